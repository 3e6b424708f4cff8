"""What the chaos harness knows of the server's state: users, files and folders (with
their owner, folder and bytes), write shares and share links. It lags behind the server
on purpose; picks favour the newest nodes so that client threads converge on the same
few folders and files.
"""

import threading
from contextlib import contextmanager
from dataclasses import dataclass

# Picks favour the HOT newest nodes with this chance; new nodes go to the root with
# ROOT_CHANCE.
HOT = 6
HOT_CHANCE = 0.7
ROOT_CHANCE = 0.2
# Share links remembered for redemption: the newest ones.
LINKS_KEPT = 50


@dataclass
class User:
    name: str
    id: str
    token: str
    login_at: float


class SharedLock:
    """Many holders of the shared side or one of the exclusive side; a waiting
    exclusive holder goes first."""

    def __init__(self):
        self._cond = threading.Condition()
        self._shared = 0
        self._exclusive = False
        self._waiting = 0

    @contextmanager
    def shared(self):
        with self._cond:
            self._cond.wait_for(lambda: not self._exclusive and not self._waiting)
            self._shared += 1
        try:
            yield
        finally:
            with self._cond:
                self._shared -= 1
                self._cond.notify_all()

    @contextmanager
    def exclusive(self):
        with self._cond:
            self._waiting += 1
            self._cond.wait_for(lambda: not self._exclusive and not self._shared)
            self._waiting -= 1
            self._exclusive = True
        try:
            yield
        finally:
            with self._cond:
                self._exclusive = False
                self._cond.notify_all()


@dataclass
class Node:
    owner: str
    parent: str | None
    folder: bool
    content: tuple | None = None  # (seed, size) of a file's bytes


class World:
    """What the harness knows of the server's state. It lags behind the server (that is
    the point): a stale id is answered 404, which is a valid outcome. Picks favour the
    newest nodes, so that threads converge on the same few folders and files."""

    def __init__(self, users, admin):
        self._lock = threading.Lock()
        self.users = users  # slot -> User; a deleted user's slot gets a new user
        self.admin = admin
        self.nodes = {}  # id -> Node, oldest first
        self.shares = {}  # grantee id -> set of folder ids shared for write
        self.links = []  # (token, file id), newest last
        self.dead = set()  # ids of deleted users
        self.admin_deletes_left = 0
        # Uploads into an owner's prefix hold the shared side; deleting the owner holds
        # the exclusive side, so no PUT of the harness lands under a deleted prefix.
        self.upload_locks = {}

    def begin_round(self, admin_deletes):
        with self._lock:
            self.admin_deletes_left = admin_deletes

    def user(self, slot):
        with self._lock:
            return self.users[slot]

    def other_user(self, rng, user):
        with self._lock:
            others = [u for u in self.users if u.id != user.id]
        return rng.choice(others) if others else None

    def upload_lock(self, owner):
        with self._lock:
            return self.upload_locks.setdefault(owner, SharedLock())

    def alive(self, *user_ids):
        with self._lock:
            return not self.dead.intersection(user_ids)

    def _owners(self, user_id, own):
        """`user_id` and, unless `own`, the users who shared a folder with them."""
        if own:
            return {user_id}
        shared = self.shares.get(user_id, ())
        return {user_id} | {self.nodes[f].owner for f in shared if f in self.nodes}

    def _pick(self, rng, user, own, folder):
        with self._lock:
            owners = self._owners(user.id, own)
            ids = [i for i, n in self.nodes.items() if n.owner in owners and n.folder == folder]
        if not ids:
            return None
        return rng.choice(ids[-HOT:] if rng.random() < HOT_CHANCE else ids)

    def pick_file(self, rng, user, own=False):
        return self._pick(rng, user, own, folder=False)

    def pick_folder(self, rng, user, own=False):
        return self._pick(rng, user, own, folder=True)

    def pick_child(self, rng, folder_id):
        """A node known to be directly in `folder_id`."""
        with self._lock:
            ids = [i for i, n in self.nodes.items() if n.parent == folder_id]
        return rng.choice(ids) if ids else None

    def pick_target(self, rng, user):
        """Where `user` may create something: (folder id or None for the root, owner)."""
        folder = None if rng.random() < ROOT_CHANCE else self.pick_folder(rng, user)
        node = self.node(folder)
        return (folder, node.owner) if node else (None, user.id)

    def pick_link(self, rng):
        with self._lock:
            return rng.choice(self.links) if self.links else (None, None)

    def node(self, node_id):
        with self._lock:
            return self.nodes.get(node_id)

    def add(self, node_id, node):
        with self._lock:
            self.nodes[node_id] = node

    def moved(self, node_id, parent):
        with self._lock:
            if node_id in self.nodes:
                self.nodes[node_id].parent = parent

    def add_share(self, folder_id, grantee):
        with self._lock:
            self.shares.setdefault(grantee, set()).add(folder_id)

    def add_link(self, token, file_id):
        with self._lock:
            self.links = self.links[-LINKS_KEPT:] + [(token, file_id)]

    def forget(self, node_id):
        """Forgets a node and everything known below it."""
        with self._lock:
            gone, more = set(), {node_id}
            while more:
                gone |= more
                more = {i for i, n in self.nodes.items() if n.parent in gone} - gone
            self.nodes = {i: n for i, n in self.nodes.items() if i not in gone}

    def claim_admin_delete(self):
        with self._lock:
            if self.admin_deletes_left <= 0:
                return False
            self.admin_deletes_left -= 1
            return True

    def replace_user(self, slot, old, new):
        """`old` was deleted: forget what it owned; `new` takes its slot."""
        with self._lock:
            self.dead.add(old.id)
            self.users[slot] = new
            self.nodes = {i: n for i, n in self.nodes.items() if n.owner != old.id}
            self.shares.pop(old.id, None)
