// Zero-copy blob pulls: file bytes go from the page cache straight to the socket with Linux
// sendfile(2) (native/sendfile.c, built into build/Release/wharf_native.node on install),
// instead of fs.createReadStream → pipeline → ServerResponse (two copies through user space,
// plus JS stream machinery on the event loop). For clients on the same host a native
// pread+send loop is faster than sendfile (see SendMode); both run on the libuv threadpool.
//
// sendFileToResponse() answers false whenever it cannot take the fast path; the caller then
// serves the same response through streams. The addon is optional: a failed build, a non-Linux
// host, TLS (no plain socket fd: the bytes must be encrypted in user space) or
// WHARF_ZERO_COPY=0 all mean "use streams".
import { createRequire } from 'node:module';
import { promises as fsp } from 'node:fs';
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

type NativeSend = (
  outFd: number,
  inFd: number,
  offset: number,
  length: number,
  callback: (err: NodeJS.ErrnoException | null, sent?: number) => void,
  idleTimeoutMs?: number,
) => () => void;

interface NativeAddon {
  /**
   * Sends `length` bytes of `inFd` from `offset` to the socket `outFd` on the libuv threadpool.
   * Both fds are dup()ed synchronously, so the caller may close its own at any time. The
   * callback runs exactly once, asynchronously. Returns a function that cancels the transfer
   * (the callback then gets ECANCELED).
   */
  sendfile: NativeSend;
  /** Same contract, but pread(2) into a 256 KiB buffer + send(2) (one user-space copy). */
  sendcopy: NativeSend;
}

declare const __WHARF_BUNDLE__: boolean | undefined;

function loadAddon(): NativeAddon | null {
  if (process.platform !== 'linux') return null;
  try {
    const require = createRequire(import.meta.url);
    // src/storage/sendfile.ts (or a chunk of the bundle in dist/) → <repo>/build/Release/wharf_native.node
    const addon = require(typeof __WHARF_BUNDLE__ !== 'undefined' ? '../build/Release/wharf_native.node' : '../../build/Release/wharf_native.node') as NativeAddon;
    return typeof addon?.sendfile === 'function' && typeof addon.sendcopy === 'function' ? addon : null;
  } catch {
    return null;
  }
}

const addon = loadAddon();

/** The native addon loaded (WHARF_ZERO_COPY=0 can still turn the fast path off per call). */
export const zeroCopyAvailable: boolean = addon !== null;

/** Errors that mean the client went away (or stalled past the idle timeout): not a server error. */
const CLIENT_GONE = new Set(['EPIPE', 'ECONNRESET', 'ECONNABORTED', 'ENOTCONN', 'ESHUTDOWN', 'ECANCELED', 'ETIMEDOUT']);

/** Sockets with a sendfile in flight (nothing else may write to them meanwhile). */
const busy = new WeakSet<Socket>();

/**
 * How the native path moves the bytes:
 *   'sendfile'  zero-copy sendfile(2). For a remote client the NIC reads the page cache by DMA:
 *               no CPU copy on the server at all.
 *   'copy'      pread(2) into a 256 KiB buffer + send(2) on the threadpool: one user-space copy,
 *               no JS streams. For a client on the same host (loopback, Unix socket) it is
 *               faster (bench/zero-copy.ts: ~1.7x sendfile on 2 cores): the client's CPU
 *               copies every byte out of the socket anyway, and it spends markedly more time
 *               doing so for sendfile'd data (page-cache pages, likely cold in the CPU cache)
 *               than for bytes the server has just copied; with 'copy' the two copies run in
 *               parallel on two cores.
 *   'auto'      'copy' when the peer is on this host (127.0.0.0/8, ::1, Unix socket), else
 *               'sendfile'. The default.
 * WHARF_SEND_MODE=sendfile|copy|auto overrides the default; opts.mode overrides both.
 */
export type SendMode = 'sendfile' | 'copy' | 'auto';

function isLocalPeer(socket: Pick<Socket, 'remoteAddress'>): boolean {
  const a = socket.remoteAddress;
  if (a === undefined) return true; // Unix domain socket
  return a === '::1' || a.startsWith('127.') || a.startsWith('::ffff:127.');
}

/** The mode a transfer on `socket` uses (exported for tests and diagnostics). */
export function resolveSendMode(socket: Pick<Socket, 'remoteAddress'>, requested?: SendMode): 'sendfile' | 'copy' {
  const env = process.env.WHARF_SEND_MODE;
  // Default: copy (pread + send on a threadpool thread) for every client, whatever its address.
  // Measured on this 2-core machine it beat both sendfile and the Go reference, at lower server
  // CPU per GiB than sendfile; `auto` (copy for same-host peers, sendfile for remote ones) and
  // `sendfile` remain selectable with WHARF_SEND_MODE.
  const mode = requested ?? (env === 'sendfile' || env === 'copy' || env === 'auto' ? env : 'copy');
  if (mode !== 'auto') return mode;
  return isLocalPeer(socket) ? 'copy' : 'sendfile';
}

/** Idle timeout handed to the addon: no byte accepted by the client for this long → ETIMEDOUT. */
let idleTimeoutMs = 60_000;
/** For tests: shorten the no-progress timeout. */
export function setZeroCopyIdleTimeout(ms: number): void {
  idleTimeoutMs = ms;
}

function socketFd(socket: Socket): number | null {
  // TLS sockets have a TLSWrap handle (no usable fd: bytes must be encrypted in user space).
  if ((socket as Socket & { encrypted?: boolean }).encrypted) return null;
  const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  return typeof fd === 'number' && fd > 0 ? fd : null;
}

/** Resolves once the socket's user-space write buffer is empty (false if it closed first). */
function drained(socket: Socket): Promise<boolean> {
  if (socket.destroyed || !socket.writable) return Promise.resolve(false);
  if (socket.writableLength === 0) return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      socket.off('drain', onDrain);
      socket.off('close', onClose);
      resolve(ok);
    };
    const onDrain = () => {
      if (socket.writableLength === 0) done(true);
    };
    const onClose = () => done(false);
    socket.on('drain', onDrain);
    socket.on('close', onClose);
  });
}

type OutgoingInternals = ServerResponse & {
  _header?: string | null;
  _hasBody?: boolean;
  _contentLength?: number | null;
  chunkedEncoding?: boolean;
};

/**
 * Sends `length` bytes of `filePath` from byte `start` as the body of `res` natively, off the
 * event loop: sendfile(2) for remote clients, a pread+send loop for local ones (see SendMode).
 *
 * Preconditions: the caller has called `res.writeHead(status, { 'Content-Length': length, ... })`
 * and written no body. Resolves:
 *   - false: the fast path is not possible (addon missing, WHARF_ZERO_COPY=0, TLS or no socket
 *     fd, no Content-Length equal to `length`, HEAD, ...). Nothing was written: the caller
 *     serves the body itself (headers are still unsent).
 *   - true: the response is complete (res.end() called; keep-alive continues), or the client
 *     went away / stalled for 60 s mid-body, in which case the socket has been destroyed
 *     (like a stream pipeline that ends with ERR_STREAM_PREMATURE_CLOSE, nothing to answer).
 * Rejects (after destroying the socket, since the headers are out) on a server-side failure
 * such as the file being shorter than `start + length` (code 'EOF') or a read error (EIO).
 * A file that cannot be opened (ENOENT, ...) rejects before anything is sent.
 */
export async function sendFileToResponse(
  res: ServerResponse,
  filePath: string,
  start: number,
  length: number,
  opts: { mode?: SendMode } = {},
): Promise<boolean> {
  if (!addon || process.env.WHARF_ZERO_COPY === '0') return false;
  const socket = res.socket as Socket | null;
  if (!socket || socket.destroyed || busy.has(socket)) return false;
  const fd = socketFd(socket);
  if (fd === null) return false;
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(length) || start < 0 || length < 0) return false;
  const out = res as OutgoingInternals;
  // Node's own bookkeeping must describe a fixed-length body of exactly `length` bytes, or the
  // keep-alive connection would be misframed: Content-Length set by writeHead, not chunked,
  // response has a body, headers not sent yet, and this response owns the socket (not queued
  // behind an earlier pipelined response).
  if (!out._header) return false;
  if (out._hasBody === false || out.chunkedEncoding || out._contentLength !== length) return false;
  if ((socket as Socket & { _httpMessage?: unknown })._httpMessage !== res) return false;
  if (res.writableEnded || res.writableLength > 0) return false;

  if (length === 0) {
    res.end();
    return true;
  }

  // Open first: a missing file still rejects before any byte of the response went out.
  const fh = await fsp.open(filePath, 'r');
  busy.add(socket);
  // Node's idle timer would not see the bytes sendfile writes; the addon has its own
  // no-progress timeout instead.
  const prevTimeout = (socket as Socket & { timeout?: number }).timeout ?? 0;
  if (prevTimeout > 0) socket.setTimeout(0);
  try {
    // Put the status line and headers on the wire first, entirely, so they precede the body.
    while (socket.writableCorked > 0) socket.uncork();
    res.flushHeaders();
    if (!(await drained(socket))) {
      socket.destroy();
      return true; // closed before the body started: the client went away
    }
    // From here until the callback, the addon writes to the socket's file description behind
    // Node's back; nothing else may write to it. Node writes to a server socket only for the
    // response that owns it (this one, which we do not touch until the end). A pipelined next
    // request's response is queued in its own outputData until this one finishes, so HTTP
    // pipelining cannot interleave bytes; only a raw socket.write() by someone else could.
    const sent = await new Promise<number>((resolve, reject) => {
      let cancel: (() => void) | null = null;
      // If Node destroys the socket (client reset, server shutdown, res.destroy()), stop.
      const onClose = () => cancel?.();
      socket.once('close', onClose);
      try {
        const send = resolveSendMode(socket, opts.mode) === 'copy' ? addon.sendcopy : addon.sendfile;
        cancel = send(fd, fh.fd, start, length, (err, n) => {
          socket.off('close', onClose);
          if (err) reject(err);
          else resolve(n ?? 0);
        }, idleTimeoutMs);
      } catch (e) {
        socket.off('close', onClose);
        reject(e);
      }
    });
    if (sent !== length) throw Object.assign(new Error(`sendfile sent ${sent} of ${length} bytes`), { code: 'EIO' });
    if (socket.destroyed) return true; // closed just as the last bytes went out
    // The body went out behind Node's back: with strictContentLength Node would count 0 body
    // bytes and throw a length mismatch in end(), so it must be off for this response.
    res.strictContentLength = false;
    res.end(); // no data: completes the response; keep-alive goes on with the next request
    return true;
  } catch (e) {
    socket.destroy();
    const code = (e as NodeJS.ErrnoException)?.code;
    if (code && CLIENT_GONE.has(code)) return true;
    throw e;
  } finally {
    busy.delete(socket);
    if (prevTimeout > 0 && !socket.destroyed) socket.setTimeout(prevTimeout);
    await fh.close().catch(() => {});
  }
}
