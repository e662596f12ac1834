// wharf_native: zero-copy file → socket transfer with Linux sendfile(2), as an N-API addon.
//
//   const cancel = sendfile(outFd, inFd, offset, length, callback[, idleTimeoutMs])
//   const cancel = sendcopy(outFd, inFd, offset, length, callback[, idleTimeoutMs])
//
// sendfile: zero-copy, sendfile(2) from the page cache straight into the socket.
// sendcopy: same contract and machinery, but pread(2) into a 256 KiB buffer + send(2). One
//   more copy on the server, yet on loopback (client on the same host) it is faster: the
//   client spends markedly more CPU receiving sendfile'd page-cache pages than bytes the
//   server just copied (measured; see src/storage/sendfile.ts). Over a real network
//   sendfile is the one to use. outFd must be a socket for sendcopy.
//
// Sends `length` bytes of the file `inFd`, starting at `offset` (the file position is not
// used nor moved), to the socket `outFd`, then calls `callback(null, bytesSent)`, or
// `callback(err)` with an Error carrying `errno` (negative, as libuv/Node report it), `code`
// ('EPIPE', 'ECONNRESET', 'ETIMEDOUT', 'ECANCELED', 'EOF' when the file is shorter than
// offset + length, ...) and `syscall: 'sendfile'`. The callback is called exactly once, never
// synchronously. The returned function cancels the transfer (the callback then gets
// ECANCELED unless it already finished); calling it later is harmless.
//
// Both descriptors are dup()ed before this returns, so the caller may close its own
// descriptors at any time (e.g. Node destroying the socket): the transfer never writes to a
// descriptor number that has been reused for something else. The connection itself stays open
// until the transfer ends, so whoever destroys the socket should also call cancel().
//
// How it runs. The socket is non-blocking (libuv sets O_NONBLOCK), so sendfile(2) returns
// when the socket buffer is full:
//   * On the libuv threadpool (napi_create_async_work) we loop on sendfile(2); on EAGAIN we
//     poll(POLLOUT) briefly (SPIN_MS), which keeps a fast client at full speed; EINTR retries.
//   * A client that stays full longer than that is "parked": the threadpool thread is given
//     back and the event loop watches a dup of the socket (uv_poll_t, UV_WRITABLE); when it
//     is writable the work is queued again. So slow clients never pin threadpool threads
//     (which fs, dns and crypto share; there are only 4 by default).
//   * After YIELD_BYTES sent in one go the work is re-queued, so one huge fast transfer
//     does not monopolise a thread while other threadpool work waits.
//   * No progress for idleTimeoutMs (default 60 s) → ETIMEDOUT.
//
// SIGPIPE: sendfile(2) has no MSG_NOSIGNAL; writing to a reset connection raises SIGPIPE.
// Node ignores SIGPIPE process-wide at startup, so normally nothing is needed. If something
// restored the default disposition, we block SIGPIPE in the worker thread for the duration
// of the call and swallow a SIGPIPE we caused, so the process never dies of it.
#ifndef __linux__
#error "wharf_native/sendfile is Linux-only"
#endif

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <node_api.h>
#include <uv.h>

#ifndef SPIN_MS
#define SPIN_MS 20                       /* in-thread poll(POLLOUT) before parking */
#endif
#ifndef YIELD_BYTES
#define YIELD_BYTES ((int64_t)64 << 20)  /* give the thread back after this many bytes */
#endif
#ifndef MAX_CALL
/* Bytes asked of one sendfile(2) call. A call on a socket that keeps draining can otherwise run
   for hundreds of MB before returning; capping it keeps cancel and YIELD_BYTES responsive. */
#define MAX_CALL ((size_t)8 << 20)
#endif
#define DEFAULT_IDLE_TIMEOUT_MS 60000
#ifndef COPY_BUF
#define COPY_BUF ((size_t)256 << 10)     /* sendcopy's buffer: fits in L2 */
#endif

enum result { R_DONE, R_FAIL, R_YIELD, R_PARK };
enum phase { P_RUNNING, P_PARKED, P_DONE };

typedef struct job {
  napi_env env;
  napi_ref callback;
  napi_async_context actx;
  napi_async_work work;
  uv_poll_t poll;
  uv_timer_t timer;
  int handles_inited;
  int handles_open;
  int refs; /* 1 for the operation, 1 for the JS cancel function */
  enum phase phase;
  int env_gone;
  atomic_int cancelled;
  int out_fd, in_fd;  /* our own dups */
  char *buf;          /* sendcopy only: COPY_BUF bytes; buf_len unsent bytes from buf_pos */
  size_t buf_pos, buf_len;
  int64_t idle_timeout_ms;
  /* written by the worker, read by the main thread after completion */
  int64_t offset, remaining, sent;
  int64_t last_progress_ms;
  enum result result;
  int error_wake;             /* last wake-up from the poll handle reported an error */
  int64_t sent_at_error_wake;
  int err; /* negative errno / UV_* code */
} job_t;

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void release(job_t *j) {
  if (--j->refs == 0) {
    free(j->buf);
    free(j);
  }
}

/* ---------------------------------------------------------------- worker thread */

/* Moves some bytes at j->offset to the socket: > 0 bytes sent, 0 end of file, < 0 errno set. */
static ssize_t transfer_step(job_t *j) {
  size_t n = j->remaining > (int64_t)MAX_CALL ? MAX_CALL : (size_t)j->remaining;
  if (!j->buf) {
    off_t off = (off_t)j->offset;
    return sendfile(j->out_fd, j->in_fd, &off, n);
  }
  if (j->buf_len == 0) {
    if (n > COPY_BUF) n = COPY_BUF;
    ssize_t r = pread(j->in_fd, j->buf, n, (off_t)j->offset);
    if (r <= 0) return r;
    j->buf_pos = 0;
    j->buf_len = (size_t)r;
  }
  ssize_t w = send(j->out_fd, j->buf + j->buf_pos, j->buf_len, MSG_NOSIGNAL | MSG_DONTWAIT);
  if (w > 0) {
    j->buf_pos += (size_t)w;
    j->buf_len -= (size_t)w;
  }
  return w;
}

static void run_loop(job_t *j) {
  int64_t sent_here = 0;
  for (;;) {
    if (atomic_load(&j->cancelled)) {
      j->result = R_FAIL;
      j->err = UV_ECANCELED;
      return;
    }
    if (j->remaining == 0) {
      j->result = R_DONE;
      return;
    }
    if (sent_here >= YIELD_BYTES) {
      j->result = R_YIELD;
      return;
    }
    ssize_t r = transfer_step(j);
    if (r > 0) {
      j->offset += r;
      j->remaining -= r;
      j->sent += r;
      sent_here += r;
      j->last_progress_ms = now_ms();
      continue;
    }
    if (r == 0) { /* end of input file before `length` bytes */
      j->result = R_FAIL;
      j->err = UV_EOF;
      return;
    }
    int e = errno;
    if (e == EINTR) continue;
    if (e == EAGAIN || e == EWOULDBLOCK) {
      int64_t idle = now_ms() - j->last_progress_ms;
      if (idle >= j->idle_timeout_ms) {
        j->result = R_FAIL;
        j->err = UV_ETIMEDOUT;
        return;
      }
      int64_t wait = j->idle_timeout_ms - idle;
      if (wait > SPIN_MS) wait = SPIN_MS;
      struct pollfd p = {.fd = j->out_fd, .events = POLLOUT, .revents = 0};
      int pr = poll(&p, 1, (int)wait);
      if (pr > 0) continue; /* writable, or POLLERR/POLLHUP: the next sendfile reports it */
      if (pr < 0) {
        if (errno == EINTR) continue;
        j->result = R_FAIL;
        j->err = -errno;
        return;
      }
      j->result = R_PARK; /* still full: let the event loop wait for us */
      return;
    }
    j->result = R_FAIL;
    j->err = -e;
    return;
  }
}

static void execute(napi_env env, void *data) {
  job_t *j = data;
  struct sigaction sa;
  sigset_t pipe_set, old_set, pending;
  int masked = 0, was_pending = 0;
  if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler != SIG_IGN) {
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    if (pthread_sigmask(SIG_BLOCK, &pipe_set, &old_set) == 0) {
      masked = 1;
      if (sigpending(&pending) == 0) was_pending = sigismember(&pending, SIGPIPE) == 1;
    }
  }
  run_loop(j);
  if (masked) {
    if (!was_pending && sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1) {
      struct timespec zero = {0, 0};
      while (sigtimedwait(&pipe_set, NULL, &zero) == -1 && errno == EINTR) {
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_set, NULL);
  }
}

/* ---------------------------------------------------------------- main thread */

static void complete(napi_env env, napi_status status, void *data);
static void on_poll(uv_poll_t *h, int status, int events);
static void on_timer(uv_timer_t *h);
static void cleanup_hook(void *arg);

static void on_handle_close(uv_handle_t *h) {
  job_t *j = h->data;
  if (--j->handles_open == 0) release(j);
}

static napi_value make_error(napi_env env, int err) {
  const char *code = uv_err_name(err);
  const char *msg = err == UV_EOF ? "file ended before the requested length" : uv_strerror(err);
  char buf[256];
  snprintf(buf, sizeof buf, "%s: %s, sendfile", code, msg);
  napi_value jmsg, jcode, jerr, jerrno, jsys;
  napi_create_string_utf8(env, buf, NAPI_AUTO_LENGTH, &jmsg);
  napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &jcode);
  napi_create_error(env, jcode, jmsg, &jerr);
  napi_create_int32(env, err, &jerrno);
  napi_set_named_property(env, jerr, "errno", jerrno);
  napi_create_string_utf8(env, "sendfile", NAPI_AUTO_LENGTH, &jsys);
  napi_set_named_property(env, jerr, "syscall", jsys);
  return jerr;
}

/* Ends the job: frees OS resources, then calls the JS callback (once). */
static void finish(job_t *j, int err) {
  napi_env env = j->env;
  j->phase = P_DONE;
  if (j->handles_inited) {
    /* uv_close on a poll handle removes the fd from epoll right away, so closing our dup
       afterwards leaves no stale registration behind. */
    j->handles_open = 2;
    uv_close((uv_handle_t *)&j->poll, on_handle_close);
    uv_close((uv_handle_t *)&j->timer, on_handle_close);
  }
  close(j->out_fd);
  close(j->in_fd);
  j->out_fd = j->in_fd = -1;

  if (!j->env_gone) {
    napi_remove_env_cleanup_hook(env, cleanup_hook, j);
    napi_handle_scope scope;
    if (napi_open_handle_scope(env, &scope) == napi_ok) {
      napi_value cb, recv, argv[2];
      if (napi_get_reference_value(env, j->callback, &cb) == napi_ok && cb != NULL) {
        napi_get_global(env, &recv); /* napi_make_callback needs an object receiver */
        if (err) {
          argv[0] = make_error(env, err);
          napi_get_undefined(env, &argv[1]);
        } else {
          napi_get_null(env, &argv[0]);
          napi_create_int64(env, j->sent, &argv[1]);
        }
        napi_status s = napi_make_callback(env, j->actx, recv, cb, 2, argv, NULL);
        if (s == napi_pending_exception) {
          napi_value exc;
          if (napi_get_and_clear_last_exception(env, &exc) == napi_ok) napi_fatal_exception(env, exc);
        }
      }
      napi_close_handle_scope(env, scope);
    }
    napi_delete_reference(env, j->callback);
    napi_async_destroy(env, j->actx);
  }
  if (!j->handles_inited) release(j);
}

/* Queues one more run on the threadpool. Caller holds a handle scope. */
static int queue_run(job_t *j) {
  napi_value name;
  j->phase = P_RUNNING;
  if (napi_create_string_utf8(j->env, "wharf:sendfile", NAPI_AUTO_LENGTH, &name) != napi_ok) return -1;
  if (napi_create_async_work(j->env, NULL, name, execute, complete, j, &j->work) != napi_ok) return -1;
  if (napi_queue_async_work(j->env, j->work) != napi_ok) {
    napi_delete_async_work(j->env, j->work);
    j->work = NULL;
    return -1;
  }
  return 0;
}

static void park(job_t *j) {
  int64_t budget = j->idle_timeout_ms - (now_ms() - j->last_progress_ms);
  if (budget <= 0) return finish(j, UV_ETIMEDOUT);
  if (!j->handles_inited) {
    uv_loop_t *loop;
    if (napi_get_uv_event_loop(j->env, &loop) != napi_ok) return finish(j, UV_EINVAL);
    int r = uv_poll_init_socket(loop, &j->poll, j->out_fd);
    if (r != 0) return finish(j, r);
    uv_timer_init(loop, &j->timer);
    j->poll.data = j;
    j->timer.data = j;
    j->handles_inited = 1;
  }
  int r = uv_poll_start(&j->poll, UV_WRITABLE | UV_DISCONNECT, on_poll);
  if (r != 0) return finish(j, r);
  uv_timer_start(&j->timer, on_timer, (uint64_t)budget, 0);
  j->phase = P_PARKED;
}

static void unpark(job_t *j) {
  uv_poll_stop(&j->poll);
  uv_timer_stop(&j->timer);
}

static void on_poll(uv_poll_t *h, int status, int events) {
  job_t *j = h->data;
  if (j->phase != P_PARKED) return;
  unpark(j);
  napi_handle_scope scope;
  napi_open_handle_scope(j->env, &scope);
  if (atomic_load(&j->cancelled)) {
    finish(j, UV_ECANCELED);
  } else if (status < 0 && j->error_wake && j->sent == j->sent_at_error_wake) {
    /* A second error wake-up without progress: the socket is broken whatever sendfile says. */
    finish(j, UV_EPIPE);
  } else {
    /* Writable, or an error condition on the socket: libuv reports POLLERR/POLLHUP as UV_EBADF,
       which says nothing useful, so the next sendfile tells the real error (EPIPE, ECONNRESET). */
    if (status < 0) {
      j->error_wake = 1;
      j->sent_at_error_wake = j->sent;
    }
    if (queue_run(j) != 0) finish(j, UV_ENOMEM);
  }
  napi_close_handle_scope(j->env, scope);
}

static void on_timer(uv_timer_t *h) {
  job_t *j = h->data;
  if (j->phase != P_PARKED) return;
  unpark(j);
  napi_handle_scope scope;
  napi_open_handle_scope(j->env, &scope);
  finish(j, atomic_load(&j->cancelled) ? UV_ECANCELED : UV_ETIMEDOUT);
  napi_close_handle_scope(j->env, scope);
}

static void complete(napi_env env, napi_status status, void *data) {
  job_t *j = data;
  napi_delete_async_work(env, j->work);
  j->work = NULL;
  if (j->env_gone) {
    /* The environment is being torn down: no JS, just let go of the resources. */
    j->phase = P_DONE;
    if (j->handles_inited) {
      j->handles_open = 2;
      uv_close((uv_handle_t *)&j->poll, on_handle_close);
      uv_close((uv_handle_t *)&j->timer, on_handle_close);
    }
    close(j->out_fd);
    close(j->in_fd);
    if (!j->handles_inited) release(j);
    return;
  }
  if (status == napi_cancelled) return finish(j, UV_ECANCELED);
  switch (j->result) {
    case R_DONE:
      return finish(j, 0);
    case R_FAIL:
      return finish(j, j->err);
    case R_YIELD:
      if (atomic_load(&j->cancelled)) return finish(j, UV_ECANCELED);
      if (queue_run(j) != 0) return finish(j, UV_ENOMEM);
      return;
    case R_PARK:
      if (atomic_load(&j->cancelled)) return finish(j, UV_ECANCELED);
      return park(j);
  }
}

/* The environment (a worker thread, say) goes away with a transfer pending. */
static void cleanup_hook(void *arg) {
  job_t *j = arg;
  j->env_gone = 1;
  atomic_store(&j->cancelled, 1);
  if (j->phase == P_PARKED) {
    unpark(j);
    j->phase = P_DONE;
    j->handles_open = 2;
    uv_close((uv_handle_t *)&j->poll, on_handle_close);
    uv_close((uv_handle_t *)&j->timer, on_handle_close);
    close(j->out_fd);
    close(j->in_fd);
  }
  /* P_RUNNING: the worker notices `cancelled`; complete() releases. */
}

static napi_value js_cancel(napi_env env, napi_callback_info info) {
  void *data;
  napi_get_cb_info(env, info, NULL, NULL, NULL, &data);
  job_t *j = data;
  if (j->phase == P_DONE) return NULL;
  atomic_store(&j->cancelled, 1);
  if (j->phase == P_PARKED) {
    /* Report from the next loop iteration, never from inside cancel(). */
    uv_poll_stop(&j->poll);
    uv_timer_start(&j->timer, on_timer, 0, 0);
  }
  /* P_RUNNING: the worker checks the flag at least every SPIN_MS. */
  return NULL;
}

static void cancel_finalize(napi_env env, void *data, void *hint) {
  release((job_t *)data);
}

static napi_status throw_errno(napi_env env, int e, const char *what) {
  char buf[160];
  snprintf(buf, sizeof buf, "%s: %s", what, strerror(e));
  return napi_throw_error(env, uv_err_name(-e), buf);
}

/* Reads a non-negative safe integer (offsets and lengths up to 2^53). */
static int get_uint(napi_env env, napi_value v, const char *name, int64_t max, int64_t *out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) {
    char buf[80];
    snprintf(buf, sizeof buf, "%s must be a number", name);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", buf);
    return -1;
  }
  if (!(d >= 0) || d > (double)max || floor(d) != d) {
    char buf[80];
    snprintf(buf, sizeof buf, "%s must be an integer in [0, %lld]", name, (long long)max);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", buf);
    return -1;
  }
  *out = (int64_t)d;
  return 0;
}

static napi_value js_sendfile(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  void *mode; /* NULL: sendfile, non-NULL: sendcopy */
  napi_get_cb_info(env, info, &argc, argv, NULL, &mode);
  if (argc < 5) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "sendfile(outFd, inFd, offset, length, callback[, idleTimeoutMs])");
    return NULL;
  }
  int64_t out_fd, in_fd, offset, length, timeout = DEFAULT_IDLE_TIMEOUT_MS;
  const int64_t max_safe = ((int64_t)1 << 53) - 1;
  if (get_uint(env, argv[0], "outFd", INT32_MAX, &out_fd)) return NULL;
  if (get_uint(env, argv[1], "inFd", INT32_MAX, &in_fd)) return NULL;
  if (get_uint(env, argv[2], "offset", max_safe, &offset)) return NULL;
  if (get_uint(env, argv[3], "length", max_safe - offset, &length)) return NULL;
  napi_valuetype t;
  napi_typeof(env, argv[4], &t);
  if (t != napi_function) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "callback must be a function");
    return NULL;
  }
  if (argc >= 6) {
    napi_typeof(env, argv[5], &t);
    if (t != napi_undefined) {
      if (get_uint(env, argv[5], "idleTimeoutMs", INT32_MAX, &timeout)) return NULL;
      if (timeout == 0) timeout = 1;
    }
  }

  int ofd = fcntl((int)out_fd, F_DUPFD_CLOEXEC, 3);
  if (ofd < 0) {
    throw_errno(env, errno, "dup(outFd)");
    return NULL;
  }
  int ifd = fcntl((int)in_fd, F_DUPFD_CLOEXEC, 3);
  if (ifd < 0) {
    int e = errno;
    close(ofd);
    throw_errno(env, e, "dup(inFd)");
    return NULL;
  }

  job_t *j = calloc(1, sizeof *j);
  if (j && mode && !(j->buf = malloc(COPY_BUF))) {
    free(j);
    j = NULL;
  }
  if (!j) {
    close(ofd);
    close(ifd);
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  j->env = env;
  j->refs = 2;
  j->out_fd = ofd;
  j->in_fd = ifd;
  j->offset = offset;
  j->remaining = length;
  j->idle_timeout_ms = timeout;
  j->last_progress_ms = now_ms();
  atomic_init(&j->cancelled, 0);

  napi_value cancel_fn, name;
  napi_status s = napi_create_function(env, "cancel", NAPI_AUTO_LENGTH, js_cancel, j, &cancel_fn);
  if (s == napi_ok) s = napi_add_finalizer(env, cancel_fn, j, cancel_finalize, NULL, NULL);
  if (s != napi_ok) {
    close(ofd);
    close(ifd);
    free(j->buf);
    free(j);
    napi_throw_error(env, NULL, "sendfile: cannot create cancel function");
    return NULL;
  }
  /* From here on the finalizer owns one reference. */
  napi_create_string_utf8(env, "wharf:sendfile", NAPI_AUTO_LENGTH, &name);
  if (napi_create_reference(env, argv[4], 1, &j->callback) != napi_ok ||
      napi_async_init(env, NULL, name, &j->actx) != napi_ok) {
    close(ofd);
    close(ifd);
    j->phase = P_DONE;
    release(j);
    napi_throw_error(env, NULL, "sendfile: cannot set up the callback");
    return NULL;
  }
  napi_add_env_cleanup_hook(env, cleanup_hook, j);
  if (queue_run(j) != 0) {
    napi_remove_env_cleanup_hook(env, cleanup_hook, j);
    napi_delete_reference(env, j->callback);
    napi_async_destroy(env, j->actx);
    close(ofd);
    close(ifd);
    j->phase = P_DONE;
    release(j);
    napi_throw_error(env, NULL, "sendfile: cannot queue work");
    return NULL;
  }
  return cancel_fn;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value fn;
  static int copy_mode = 1;
  napi_create_function(env, "sendfile", NAPI_AUTO_LENGTH, js_sendfile, NULL, &fn);
  napi_set_named_property(env, exports, "sendfile", fn);
  napi_create_function(env, "sendcopy", NAPI_AUTO_LENGTH, js_sendfile, &copy_mode, &fn);
  napi_set_named_property(env, exports, "sendcopy", fn);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
