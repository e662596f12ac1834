// Path handling for layer entries: everything inside an image is relative, POSIX, normalised,
// without a leading "/". Pure string functions: nothing here touches the host file system.

/**
 * Normalises a tar entry name: strips a leading "/" and "./", collapses "." and empty segments,
 * resolves "..". Returns `null` when the path escapes the root ("../x", "a/../../x"); the root
 * itself is "".
 */
export function normalizeEntryPath(name: string): string | null {
  const out: string[] = [];
  for (const seg of name.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (out.length === 0) return null;
      out.pop();
      continue;
    }
    out.push(seg);
  }
  return out.join('/');
}

/** Directory part of a normalised path ("" for a top-level entry). */
export function dirnameOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? '' : path.slice(0, i);
}

export function basenameOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? path : path.slice(i + 1);
}

/** `path` is `dir` itself or below it ("" is the root, which contains everything). */
export function isAtOrUnder(path: string, dir: string): boolean {
  if (dir === '') return true;
  return path === dir || path.startsWith(dir + '/');
}

/** `path` is strictly below `dir`. */
export function isStrictlyUnder(path: string, dir: string): boolean {
  if (dir === '') return path !== '';
  return path.startsWith(dir + '/');
}

/**
 * Resolves a symlink target lexically, the way it would resolve inside the image's root (a chroot):
 * an absolute target is relative to the image root, a relative one to the link's directory, and
 * ".." never climbs above the root. Intermediate symlinks are not followed.
 */
export function resolveSymlinkTarget(linkPath: string, target: string): string {
  const base = target.startsWith('/') ? [] : dirnameOf(linkPath).split('/').filter(Boolean);
  for (const seg of target.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      base.pop(); // clamped at the root
      continue;
    }
    base.push(seg);
  }
  return base.join('/');
}
