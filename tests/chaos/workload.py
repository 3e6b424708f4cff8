"""The random operations of the chaos harness, each one client thread's step.

Client threads act as a few users (several threads per user) on a small shared pool
of folders and files, so that they race: uploads (completed, aborted, abandoned, or
PUT but never completed; also several at once in a batch request), copies, moves and renames, deletes of files and of nested
folders, new folders, write shares (the grantee then uploads into the owner's folder,
billed to the owner), share links, downloads (bytes compared with what was uploaded),
and now and then the admin deletes a user and a new one takes their place. A "race"
fires several of these at the same instant on one folder (delete it, delete, copy and
move out what is in it, upload and copy into it, ...). Names are drawn from a small
pool so that they collide; sizes are spread so that quotas are hit. Every answer
below 500 is a valid outcome of a race; the invariants are checked after the round
(checks.py).
"""

import json
import random
import secrets
import threading
import time
import uuid
import zlib

from client import ok
from world import Node, User

PASSWORD = "chaos horse battery staple"
FILE_NAMES = ["a.bin", "b.txt", "c.dat", "d.log"]
FOLDER_NAMES = ["x", "y", "z"]
CONTENT_TYPES = ["application/octet-stream", "text/plain", "image/png"]
# Operation -> weight.
OPERATIONS = {
    "upload": 30,
    "upload_abort": 5,
    "upload_abandon": 3,
    "upload_put_only": 3,
    "upload_batch": 5,
    "copy": 10,
    "move": 8,
    "delete_file": 12,
    "delete_folder": 6,
    "create_folder": 8,
    "share": 3,
    "link": 4,
    "redeem": 3,
    "download": 8,
    "race": 4,
    "delete_user": 1,
    "trash_restore": 3,
    "trash_purge": 2,
}
# Access tokens live 600 s; sessions older than this log in again between rounds.
RELOGIN_AFTER_SECONDS = 300


def pick_size(rng):
    roll = rng.random()
    if roll < 0.85:
        return rng.randint(1, 20_000)
    if roll < 0.95:
        return rng.randint(20_000, 60_000)
    return rng.randint(60_000, 150_000)


def content_bytes(content):
    seed, size = content
    return random.Random(seed).randbytes(size)


def pick_name(rng, pool):
    """A name from the small pool (collisions on purpose) or a fresh one."""
    return rng.choice(pool) if rng.random() < 0.6 else f"{uuid.uuid4().hex[:8]}-{rng.choice(pool)}"


def register(api, name):
    """A new user, registered and logged in (retried while a kill interrupts it)."""
    for _ in range(100):
        body = {"username": name, "password": PASSWORD}
        r = api.call("auth.register", "POST", "/api/v1/auth/register", body=body)
        if ok(r, 201, 409):
            user = login(api, name, PASSWORD)
            if user:
                return user
        time.sleep(0.2)
    raise RuntimeError(f"could not register {name}")


def login(api, name, password):
    body = {"username": name, "password": password}
    r = api.call("auth.login", "POST", "/api/v1/auth/login", body=body)
    if not ok(r, 200):
        return None
    body = r.json()
    return User(name, body["user"]["id"], body["access_token"], time.monotonic())


def refresh_sessions(api, world, admin_password):
    """Logs in again the users (and the admin) whose access token is getting old."""
    for slot, user in enumerate(world.users):
        if time.monotonic() - user.login_at > RELOGIN_AFTER_SECONDS:
            world.users[slot] = must_login(api, user.name, PASSWORD)
    if time.monotonic() - world.admin.login_at > RELOGIN_AFTER_SECONDS:
        world.admin = must_login(api, world.admin.name, admin_password)


def must_login(api, name, password):
    user = login(api, name, password)
    if user is None:
        raise RuntimeError(f"{name} could not log in")
    return user


def fresh_username():
    return f"chaos-{secrets.token_hex(4)}"


class Client:
    """One client thread acting as the user in `slot`."""

    def __init__(self, api, world, slot, rng):
        self.api, self.world, self.slot, self.rng = api, world, slot, rng

    def run(self, count, on_done):
        kinds = list(OPERATIONS)
        weights = list(OPERATIONS.values())
        for _ in range(count):
            kind = self.rng.choices(kinds, weights)[0]
            self.api.tally.op(kind)
            getattr(self, kind)()
            on_done()

    def user(self):
        return self.world.user(self.slot)

    def call(self, kind, method, path, body=None, user=None):
        return self.api.call(kind, method, path, (user or self.user()).token, body)

    # --- uploads -------------------------------------------------------------------

    def upload(self):
        self._upload("complete")

    def upload_abort(self):
        self._upload("abort")

    def upload_abandon(self):
        self._upload("abandon")

    def upload_put_only(self):
        self._upload("put_only")

    def _upload(self, mode, target=None):
        user = self.user()
        begun = self._begin_upload(user, target or self.world.pick_target(self.rng, user), mode)
        if begun:
            self._end_upload(user, mode, *begun)

    def _begin_upload(self, user, target, mode):
        """Starts an upload into `target` (folder or None, owner) and PUTs its bytes
        (always to complete or leave pending, sometimes before an abort); returns
        (upload path, file id, Node) or None."""
        parent, owner = target
        body = {
            "name": pick_name(self.rng, FILE_NAMES),
            "size": pick_size(self.rng),
            "content_type": self.rng.choice(CONTENT_TYPES),
            "parent_id": parent,
        }
        # Identical starts answer the same upload, so their bytes must be identical too.
        content = (zlib.crc32(json.dumps(body, sort_keys=True).encode()), body["size"])
        with self.world.upload_lock(owner).shared():
            if not self.world.alive(owner, user.id):
                return None
            r = self.call("uploads.start", "POST", "/api/v1/uploads", body, user=user)
            self._forget_if_gone(r, parent, user)
            if not ok(r, 200, 201):
                return None
            started = r.json()
            if mode in ("complete", "put_only") or (mode == "abort" and self.rng.random() < 0.5):
                put = started["put"]
                data = content_bytes(content)
                self.api.presigned("s3.put", "PUT", put["url"], put["headers"], data)
        node = Node(owner, parent, folder=False, content=content)
        return f"/api/v1/uploads/{started['upload_id']}", started["file"]["id"], node

    def _end_upload(self, user, mode, upload, file_id, node):
        if mode == "complete":
            if ok(self.call("uploads.complete", "POST", f"{upload}/complete", user=user), 200):
                self.world.add(file_id, node)
        elif mode == "abort":
            self.call("uploads.abort", "POST", f"{upload}/abort", user=user)
        elif mode == "put_only":
            # Reconciliation completes it once expired; until then it is pending.
            self.world.add(file_id, node)

    def upload_batch(self):
        """Starts 2 to 4 uploads in one batch request (names from the pool: they collide
        with each other and with single starts), PUTs those that started and completes
        them in one batch request. Each item's status is tallied like an answer."""
        user = self.user()
        parent, owner = self.world.pick_target(self.rng, user)
        bodies = [
            {
                "name": pick_name(self.rng, FILE_NAMES),
                "size": pick_size(self.rng),
                "content_type": self.rng.choice(CONTENT_TYPES),
                "parent_id": parent,
            }
            for _ in range(self.rng.randint(2, 4))
        ]
        started = []
        with self.world.upload_lock(owner).shared():
            if not self.world.alive(owner, user.id):
                return
            r = self.call("uploads.batch", "POST", "/api/v1/uploads/batch", {"uploads": bodies}, user=user)
            if not ok(r, 200):
                return
            for body, item in zip(bodies, r.json()["items"]):
                self.api.tally.answered("uploads.batch_item", item["status"], r.headers.get("x-request-id"), item["error"])
                node = self.world.node(parent)
                if item["status"] == 404 and node and node.owner == user.id:
                    self.world.forget(parent)
                if item["status"] not in (200, 201):
                    continue
                # The same content as a single start of the same body (it may answer it).
                content = (zlib.crc32(json.dumps(body, sort_keys=True).encode()), body["size"])
                put = item["upload"]["put"]
                if put:
                    self.api.presigned("s3.put", "PUT", put["url"], put["headers"], content_bytes(content))
                    started.append((item["upload"], content))
        if not started:
            return
        # Two identical starts in one batch answer one upload: completed once.
        contents = {upload["upload_id"]: content for upload, content in started}
        ids = list(contents)
        r = self.call("uploads.batch_complete", "POST", "/api/v1/uploads/batch/complete", {"upload_ids": ids}, user=user)
        if not ok(r, 200):
            return
        for content, item in zip(contents.values(), r.json()["items"]):
            self.api.tally.answered("uploads.batch_item_complete", item["status"], r.headers.get("x-request-id"), item["error"])
            if item["status"] == 200:
                self.world.add(item["file"]["id"], Node(owner, parent, folder=False, content=content))

    def _forget_if_gone(self, answer, parent, user):
        """A 404 about their own folder tells a user that it is gone."""
        node = self.world.node(parent)
        if ok(answer, 404) and node and node.owner == user.id:
            self.world.forget(parent)

    # --- files and folders ---------------------------------------------------------

    def copy(self):
        user = self.user()
        src = self.world.pick_file(self.rng, user)
        source = self.world.node(src)
        if source is None:
            return
        roll = self.rng.random()
        if roll < 0.25:
            self._copy(src, {}, (source.parent, source.owner))  # beside the source
        elif roll < 0.4:
            self._copy(src, {"parent_id": None}, (None, user.id))
        else:
            parent, owner = self.world.pick_target(self.rng, user)
            body = {"parent_id": parent}
            if self.rng.random() < 0.5:
                body["name"] = pick_name(self.rng, FILE_NAMES)
            self._copy(src, body, (parent, owner))

    def _copy(self, src, body, target):
        source = self.world.node(src)
        if source is None:
            return
        r = self.call("files.copy", "POST", f"/api/v1/files/{src}/copy", body)
        if ok(r, 201):
            parent, owner = target
            copy = Node(owner, parent, folder=False, content=source.content)
            self.world.add(r.json()["id"], copy)

    def move(self):
        user = self.user()
        folder = self.rng.random() < 0.4
        pick = self.world.pick_folder if folder else self.world.pick_file
        node = pick(self.rng, user)
        if node is None:
            return
        if self.rng.random() < 0.5:
            body = {"name": pick_name(self.rng, FOLDER_NAMES if folder else FILE_NAMES)}
        else:
            to_root = self.rng.random() < 0.2
            body = {"parent_id": None if to_root else self.world.pick_folder(self.rng, user)}
        self._move(node, body)

    def _move(self, node, body):
        if node is None:
            return
        r = self.call("files.patch", "PATCH", f"/api/v1/files/{node}", body)
        if ok(r, 200) and "parent_id" in body:
            self.world.moved(node, body["parent_id"])

    def delete_file(self):
        self._delete(self.world.pick_file(self.rng, self.user()))

    def delete_folder(self):
        self._delete(self.world.pick_folder(self.rng, self.user()))

    def _delete(self, node):
        if node is None:
            return
        r = self.call("files.delete", "DELETE", f"/api/v1/files/{node}")
        if ok(r, 204, 404):
            self.world.forget(node)

    # --- the trash (deletes keep files there for COFFER_TRASH_RETENTION_DAYS) -------------

    def _trash_item(self):
        r = self.call("trash.list", "GET", "/api/v1/trash?limit=20")
        if not ok(r, 200):
            return None
        items = r.json()["items"]
        return self.rng.choice(items)["id"] if items else None

    def trash_restore(self):
        """Restores a deleted item (the harness does not track what comes back: the
        invariants cover it)."""
        item = self._trash_item()
        if item is not None:
            r = self.call("trash.restore", "POST", f"/api/v1/trash/{item}/restore")
            ok(r, 200, 404)

    def trash_purge(self):
        """Deletes one item for good, or now and then empties the whole trash."""
        if self.rng.random() < 0.3:
            ok(self.call("trash.empty", "DELETE", "/api/v1/trash"), 200)
            return
        item = self._trash_item()
        if item is not None:
            ok(self.call("trash.delete", "DELETE", f"/api/v1/trash/{item}"), 204, 404)

    def create_folder(self, target=None):
        user = self.user()
        parent, owner = target or self.world.pick_target(self.rng, user)
        body = {"name": pick_name(self.rng, FOLDER_NAMES), "parent_id": parent}
        r = self.call("folders.create", "POST", "/api/v1/folders", body, user=user)
        self._forget_if_gone(r, parent, user)
        if ok(r, 201):
            self.world.add(r.json()["id"], Node(owner, parent, folder=True))

    def race(self):
        """Many requests at the same instant on one folder: delete it; delete, copy out
        and move out what is in it; complete an upload into it and start another; copy
        a file into it; create a folder in it."""
        user = self.user()
        folder = self.world.pick_folder(self.rng, user)
        node = self.world.node(folder)
        if node is None:
            return
        target = (folder, node.owner)
        pending = self._begin_upload(user, target, "complete")

        def child():
            return self.world.pick_child(self.rng, folder)

        actions = [
            lambda: self._delete(folder),
            lambda: self._delete(child()),
            lambda: self._copy(child(), {"parent_id": None}, (None, user.id)),
            lambda: self._move(child(), {"parent_id": None}),
            lambda: self._upload("complete", target),
            lambda: self._copy(self.world.pick_file(self.rng, user), {"parent_id": folder}, target),
            lambda: self.create_folder(target),
        ]
        if pending:
            actions.append(lambda: self._end_upload(user, "complete", *pending))
        self._at_once(actions)

    def _at_once(self, actions):
        barrier = threading.Barrier(len(actions))
        errors = []

        def run(action):
            try:
                barrier.wait()
                action()
            except Exception as e:  # re-raised in the client thread
                errors.append(e)

        threads = [threading.Thread(target=run, args=(a,)) for a in actions]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]

    # --- sharing -------------------------------------------------------------------

    def share(self):
        user = self.user()
        folder = self.world.pick_folder(self.rng, user, own=True)
        grantee = self.world.other_user(self.rng, user)
        if folder is None or grantee is None:
            return
        body = {"username": grantee.name, "permission": "write"}
        r = self.call("shares.create", "POST", f"/api/v1/files/{folder}/shares", body, user=user)
        if ok(r, 200, 201):
            self.world.add_share(folder, grantee.id)

    def link(self):
        user = self.user()
        file_id = self.world.pick_file(self.rng, user, own=True)
        if file_id is None:
            return
        body = self.rng.choice([{}, {"max_downloads": self.rng.randint(1, 3)}])
        r = self.call("links.create", "POST", f"/api/v1/files/{file_id}/links", body, user=user)
        if ok(r, 201):
            token = r.json()["token"]
            self.world.add_link(token, file_id)
            self._redeem(token, file_id)

    def redeem(self):
        token, file_id = self.world.pick_link(self.rng)
        if token is not None:
            self._redeem(token, file_id)

    def _redeem(self, token, file_id):
        self.api.call("links.info", "GET", f"/s/{token}")
        body = {"no_redirect": True}
        r = self.api.call("links.redeem", "POST", f"/s/{token}/download", body=body)
        if ok(r, 200):
            self._fetch_and_compare(r.json()["url"], file_id)

    # --- downloads -----------------------------------------------------------------

    def download(self):
        file_id = self.world.pick_file(self.rng, self.user())
        if file_id is None:
            return
        r = self.call("files.download", "GET", f"/api/v1/files/{file_id}/download")
        if ok(r, 200):
            self._fetch_and_compare(r.json()["url"], file_id)

    def _fetch_and_compare(self, url, file_id):
        """GETs a presigned URL; the bytes must be those uploaded (a 404 is a lost race
        with a delete)."""
        r = self.api.presigned("s3.get", "GET", url)
        node = self.world.node(file_id)
        if ok(r, 200) and node and node.content and r.body != content_bytes(node.content):
            self.api.tally.mismatch(
                f"file {file_id}: the {len(r.body)} bytes downloaded differ from the "
                f"{node.content[1]} uploaded"
            )

    # --- administration ------------------------------------------------------------

    def delete_user(self):
        """The admin deletes a random user (at most as many per round as allowed); a new
        user takes the slot."""
        if not self.world.claim_admin_delete():
            return
        slot = self.rng.randrange(len(self.world.users))
        victim = self.world.user(slot)
        with self.world.upload_lock(victim.id).exclusive():
            path = f"/api/v1/admin/users/{victim.id}"
            r = self.call("admin.delete_user", "DELETE", path, user=self.world.admin)
            if ok(r, 202):
                self.world.replace_user(slot, victim, register(self.api, fresh_username()))
