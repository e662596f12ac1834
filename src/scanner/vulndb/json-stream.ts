// Splitting a JSON byte stream into records without parsing it whole: JSON Lines, concatenated
// JSON values (pretty-printed or not), or one top-level array whose elements are the records (the
// array is never held whole). A single top-level object is one record. Text between values that
// is not JSON (a broken line) comes out as `garbage`, up to the end of its line.
// One record (or one piece of garbage) is held whole while it is read, so its size is limited
// (`maxRecordChars`, default MAX_RECORD_CHARS): a larger one stops the read with RecordSizeError
// instead of growing one string to V8's limit (RangeError) or exhausting memory.
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { createGunzip } from 'node:zlib';

export type JsonPiece = { text: string; garbage?: false } | { text: string; garbage: true };

const OPEN_OBJ = 0x7b;
const CLOSE_OBJ = 0x7d;
const OPEN_ARR = 0x5b;
const CLOSE_ARR = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const NL = 0x0a;
const COMMA = 0x2c;

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0xfeff;
}

/** The largest single record read (characters of JSON text): 256 Mi; the Debian security tracker's JSON, one object of ~80 MB, is the largest known. */
export const MAX_RECORD_CHARS = 256 * 1024 * 1024;

export class SizeLimitError extends Error {}
/** one record (or a piece of non-JSON text) over the limit */
export class RecordSizeError extends SizeLimitError {}

export interface SplitOptions {
  /** limit on one record's text (default MAX_RECORD_CHARS) */
  maxRecordChars?: number;
}

export async function* splitJson(chunks: AsyncIterable<string>, opts: SplitOptions = {}): AsyncGenerator<JsonPiece> {
  const maxRecord = opts.maxRecordChars ?? MAX_RECORD_CHARS;
  let inArray = false; // inside the top-level array: its elements are the records
  let depth = 0; // nesting inside the current record
  let inString = false;
  let escape = false;
  let garbage = false;
  let buf = '';
  for await (const chunk of chunks) {
    let start = depth > 0 || garbage ? 0 : -1;
    const n = chunk.length;
    for (let i = 0; i < n; i++) {
      const c = chunk.charCodeAt(i);
      if (garbage) {
        if (c === NL || (inArray && (c === COMMA || c === CLOSE_ARR))) {
          buf += chunk.slice(start, i);
          const t = buf.trim();
          buf = '';
          garbage = false;
          start = -1;
          if (t) yield { text: t, garbage: true };
          if (c === CLOSE_ARR) inArray = false;
        }
        continue;
      }
      if (depth === 0) {
        if (isSpace(c) || c === COMMA) continue;
        if (c === OPEN_ARR && !inArray) {
          inArray = true;
          continue;
        }
        if (c === CLOSE_ARR && inArray) {
          inArray = false;
          continue;
        }
        if (c === OPEN_OBJ || c === OPEN_ARR) {
          depth = 1;
          start = i;
          continue;
        }
        garbage = true;
        start = i;
        continue;
      }
      if (inString) {
        if (escape) escape = false;
        else if (c === BACKSLASH) escape = true;
        else if (c === QUOTE) inString = false;
        continue;
      }
      if (c === QUOTE) inString = true;
      else if (c === OPEN_OBJ || c === OPEN_ARR) depth++;
      else if (c === CLOSE_OBJ || c === CLOSE_ARR) {
        depth--;
        if (depth === 0) {
          const text = buf + chunk.slice(start, i + 1);
          buf = '';
          start = -1;
          yield { text };
        }
      }
    }
    if (start >= 0) {
      if (buf.length + (n - start) > maxRecord) {
        throw new RecordSizeError(`a single JSON ${garbage ? 'line of non-JSON text' : inArray ? 'array element' : 'value'} is larger than the limit of ${maxRecord} characters (not read whole)`);
      }
      buf += chunk.slice(start);
    }
  }
  const rest = buf.trim();
  if (rest) yield { text: rest, garbage: true };
}

/**
 * Pieces parsed: a value, or the reason a piece was not JSON. A piece that fails to parse and
 * spans several lines (a broken line of a JSONL file swallows the lines after it until its
 * brackets balance, or the end of the file) is retried line by line: the lines that are JSON
 * objects are recovered, the rest counts as one error.
 */
export async function* jsonRecords(chunks: AsyncIterable<string>, opts: SplitOptions = {}): AsyncGenerator<{ value: unknown } | { error: string }> {
  for await (const p of splitJson(chunks, opts)) {
    if (!p.garbage) {
      try {
        yield { value: JSON.parse(p.text) };
        continue;
      } catch {
        /* below */
      }
    }
    const lines = p.text.split('\n');
    let bad: string | undefined;
    if (lines.length > 1) {
      for (const line of lines) {
        const t = line.trim();
        if (!t) continue;
        let v: unknown;
        try {
          v = t.startsWith('{') ? JSON.parse(t) : undefined;
        } catch {
          v = undefined;
        }
        if (v !== undefined) yield { value: v };
        else bad ??= t;
      }
    } else bad = p.text;
    if (bad !== undefined) yield { error: `${p.garbage ? 'not JSON' : 'malformed JSON'}: ${bad.slice(0, 60)}` };
  }
}

/** A file's text, gunzipped when it starts with the gzip magic, at most `maxBytes` (decompressed). */
export async function* readText(file: string, opts: { maxBytes?: number; signal?: AbortSignal } = {}): AsyncGenerator<string> {
  const fh = await open(file, 'r');
  const head = Buffer.alloc(2);
  try {
    await fh.read(head, 0, 2, 0);
  } finally {
    await fh.close();
  }
  const raw = createReadStream(file, { signal: opts.signal, highWaterMark: 1 << 20 });
  const stream = head[0] === 0x1f && head[1] === 0x8b ? raw.pipe(createGunzip()) : raw;
  if (stream !== raw) raw.on('error', (e) => stream.destroy(e));
  const decoder = new TextDecoder('utf-8');
  let total = 0;
  try {
    for await (const b of stream as AsyncIterable<Buffer>) {
      total += b.length;
      if (opts.maxBytes !== undefined && total > opts.maxBytes) throw new SizeLimitError(`${file}: more than ${opts.maxBytes} bytes`);
      const s = decoder.decode(b, { stream: true });
      if (s) yield s;
    }
    const tail = decoder.decode();
    if (tail) yield tail;
  } finally {
    stream.destroy();
    raw.destroy();
  }
}
