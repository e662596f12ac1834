// Repository names and tags (distribution-spec "Pulling manifests": <name> and <reference> grammar).
import { OciError } from '../errors/oci-errors.ts';

const COMPONENT = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
const NAME_RE = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const TAG_RE = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
/** distribution limits the whole name (with a hostname) to 255 characters. */
export const MAX_NAME_LENGTH = 255;

export function isValidName(name: string): boolean {
  return name.length > 0 && name.length <= MAX_NAME_LENGTH && NAME_RE.test(name);
}

export function assertName(name: string): string {
  if (!isValidName(name)) throw new OciError('NAME_INVALID', 'invalid repository name', { detail: { name } });
  return name;
}

export function isValidTag(tag: string): boolean {
  return TAG_RE.test(tag);
}
