// What the web pages share: element lookup, showing and hiding, byte counts, and the
// breadcrumbs of a folder trail. Names are set as text, never as markup.

export const $ = (id) => document.getElementById(id);

export function show(id, on = true) {
  $(id).hidden = !on;
}

export function bytes(n) {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i += 1;
  }
  return i === 0 ? `${n} bytes` : `${n.toFixed(1)} ${units[i]}`;
}

/// Renders `trail` ([{name}], the folder shown last) into `nav`: every folder above is a
/// button calling `pick(index)`, the one shown is plain.
export function crumbs(nav, trail, pick) {
  nav.replaceChildren();
  trail.forEach((f, i) => {
    if (i > 0) {
      const sep = document.createElement('span');
      sep.className = 'sep';
      sep.textContent = '/';
      nav.append(sep);
    }
    if (i === trail.length - 1) {
      const here = document.createElement('strong');
      here.textContent = f.name;
      nav.append(here);
    } else {
      const up = document.createElement('button');
      up.type = 'button';
      up.className = 'link';
      up.textContent = f.name;
      up.onclick = () => pick(i);
      nav.append(up);
    }
  });
}
