/* libFuzzer target: the patched Meinheld request parser, driven the way meinheld/server/server.c drives it.
 *
 * Compiled together with the patched http_parser.c, http_request_parser.c, request.c, buffer.c and client.c
 * (run.py builds it from the hash-checked sdist and ../series) and an embedded CPython, so the callbacks
 * build real WSGI environs. One input is the bytes one client sends on one connection. Each input is sent
 * three ways: in reads of up to 64 KiB (READ_BUF_SIZE), one byte per read (every read boundary), and in two
 * reads split at a point the input picks; with FUZZ_EVERY_SPLIT=N (the regression run) an input of up to N
 * bytes is also split at every point. Per read, as parse_http_request() and read_callback() do: execute_parse(); an upgrade, a parse
 * error or a bad_request_code refuses; a finished message serves every queued request (the "app" reads each
 * environ and the whole body), then a kept-alive connection starts over with a new parser, as
 * close_client() does; end of input is the client closing (read() == 0).
 *
 * Findings: anything AddressSanitizer, UndefinedBehaviorSanitizer or LeakSanitizer reports; a Python
 * exception left set after a parser call (the next Python call would fail with SystemError); and requests
 * served differently depending on how the bytes were split (the served requests' environs and bodies must
 * agree as far as both runs got: a difference is a framing ambiguity, the stuff of request smuggling).
 * The parser's free lists are emptied after every read so that freed memory goes back to ASan at once.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buffer.h"
#include "client.h"
#include "http_request_parser.h"
#include "meinheld.h"
#include "request.h"

/* What server.c, response.c and time_cache.c define for the files compiled here, with server.c's defaults. */
uint64_t max_content_length = 1024 * 1024 * 16;
int client_body_buffer_size = 1024 * 500;
volatile uintptr_t current_msec = 0;
PyObject *file_wrapper(PyObject *self, PyObject *args) { Py_RETURN_NONE; }

#define READ_BUF_SIZE (1024 * 64) /* server.c: one read() */
#define MAX_SERVED 4096

typedef struct {
  uint64_t digests[MAX_SERVED]; /* one per served request */
  size_t served;
  size_t refused;
} transcript_t;

static PyObject *skipped_keys; /* environ keys that do not depend on the bytes sent */

static void finding(const char *what) {
  fprintf(stderr, "FINDING: %s\n", what);
  abort();
}

static void check_no_python_error(const char *where) {
  if (PyErr_Occurred()) {
    PyErr_Print();
    fprintf(stderr, "FINDING: a Python exception left set by %s\n", where);
    abort();
  }
}

static void drain_free_lists(void) {
  parser_list_clear();
  request_list_clear();
  buffer_list_clear();
  ClientObject_list_clear();
}

static uint64_t fnv1a(uint64_t h, const void *data, size_t len) {
  const unsigned char *p = data;
  for (size_t i = 0; i < len; i++) {
    h = (h ^ p[i]) * 1099511628211ULL;
  }
  return h;
}

/* What a WSGI app would see: every environ item (latin-1 text) and the whole body; returns their digest. */
static uint64_t run_app(request *req) {
  uint64_t h = 14695981039346656037ULL;
  PyObject *items = PyDict_Items(req->environ);
  if (items == NULL || PyList_Sort(items) == -1) {
    finding("the environ cannot be listed and sorted (a key that is not str?)");
  }
  for (Py_ssize_t i = 0; i < PyList_GET_SIZE(items); i++) {
    PyObject *key = PyTuple_GET_ITEM(PyList_GET_ITEM(items, i), 0);
    PyObject *value = PyTuple_GET_ITEM(PyList_GET_ITEM(items, i), 1);
    if (!PyUnicode_Check(key)) {
      finding("an environ key that is not str");
    }
    if (PySet_Contains(skipped_keys, key) == 1) {
      continue;
    }
    Py_ssize_t len;
    const char *text = PyUnicode_AsUTF8AndSize(key, &len);
    h = fnv1a(h, text, (size_t)len + 1);
    if (PyUnicode_Check(value)) {
      PyObject *latin1 = PyUnicode_AsLatin1String(value); /* PEP 3333: native strings are latin-1 */
      if (latin1 == NULL) {
        finding("an environ value that is not latin-1");
      }
      h = fnv1a(h, PyBytes_AS_STRING(latin1), (size_t)PyBytes_GET_SIZE(latin1) + 1);
      Py_DECREF(latin1);
    }
  }
  Py_DECREF(items);
  h = fnv1a(h, "body", 5);
  if (req->body_type == BODY_TYPE_BUFFER) {
    buffer_t *body = req->body;
    h = fnv1a(h, body->buf, body->len);
  } else if (req->body_type == BODY_TYPE_TMPFILE) {
    char chunk[4096];
    size_t got;
    rewind((FILE *)req->body);
    while ((got = fread(chunk, 1, sizeof(chunk), (FILE *)req->body)) > 0) {
      h = fnv1a(h, chunk, got);
    }
  }
  check_no_python_error("the app's reading of the environ");
  return h;
}

/* clean_client(): what the server frees once a request has been answered. */
static void release_request(request *req) {
  Py_CLEAR(req->environ);
  if (req->body) {
    if (req->body_type == BODY_TYPE_TMPFILE) {
      fclose((FILE *)req->body);
    } else {
      free_buffer((buffer_t *)req->body);
    }
    req->body = NULL;
  }
  free_request(req);
}

static client_t *open_client(void) {
  client_t *client = calloc(1, sizeof(client_t));
  if (client == NULL) {
    abort();
  }
  client->fd = -1;
  client->remote_addr = "127.0.0.1";
  client->remote_port = 40000;
  client->complete = 1;
  client->keep_alive = 1;
  client->request_queue = new_request_queue();
  if (init_parser(client, "fuzz", 80) != 0) {
    abort();
  }
  return client;
}

/* check_status_code(), prepare_call_wsgi() and close_client(): answer every queued request in order. */
static void serve_queue(client_t *client, transcript_t *t) {
  request *req;
  while ((req = shift_request(client->request_queue)) != NULL) {
    client->current_req = req;
    if (req->bad_request_code > 200) {
      t->refused++;
    } else if (t->served < MAX_SERVED) {
      t->digests[t->served++] = run_app(req);
    }
    release_request(req);
    client->current_req = NULL;
  }
}

static void close_client(client_t *client) {
  free_request_queue(client->request_queue);
  dealloc_parser(client->http_parser);
  free(client);
  drain_free_lists();
}

/* set_read_error(): with requests queued the last one gets the error and the queue is served; else the
 * request being read is refused. The connection is closed either way. */
static void read_error(client_t *client, int status, transcript_t *t) {
  client->keep_alive = 0;
  if (client->request_queue->size > 0) {
    client->request_queue->tail->bad_request_code = status ? status : 400;
    serve_queue(client, t);
  } else if (!client->complete) {
    t->refused++;
  }
  close_client(client);
}

/* One connection: `data` arrives in reads of the lengths next_read() gives. */
typedef size_t (*next_read_fn)(size_t offset, size_t size, size_t split);

static size_t whole_reads(size_t offset, size_t size, size_t split) {
  (void)split;
  return size - offset < READ_BUF_SIZE ? size - offset : READ_BUF_SIZE;
}

static size_t byte_reads(size_t offset, size_t size, size_t split) {
  (void)offset, (void)size, (void)split;
  return 1;
}

static size_t split_reads(size_t offset, size_t size, size_t split) {
  return offset < split ? split - offset : whole_reads(offset, size, 0);
}

static void run_connection(const char *data, size_t size, next_read_fn next_read, size_t split,
                           transcript_t *t) {
  client_t *client = open_client();
  size_t offset = 0;
  memset(t, 0, sizeof(*t));
  while (offset < size) {
    size_t len = next_read(offset, size, split);
    size_t nread = execute_parse(client, data + offset, len);
    check_no_python_error("execute_parse()");
    drain_free_lists();
    offset += len;
    if (nread > len) {
      finding("the parser consumed more bytes than it was given");
    }
    request *req = client->current_req;
    if (client->upgrade) {
      /* parse_new_protocol(): the parser stopped after the head; the connection is not reused */
      read_error(client, req ? req->bad_request_code : 400, t);
      return;
    }
    if (req == NULL) {
      read_error(client, 400, t);
      return;
    }
    if (nread != len || req->bad_request_code > 0) {
      read_error(client, req->bad_request_code, t);
      return;
    }
    if (parser_finish(client) > 0) {
      int keep_alive = client->keep_alive;
      serve_queue(client, t);
      close_client(client);
      if (!keep_alive) {
        return;
      }
      client = open_client(); /* close_client(): a kept-alive connection gets a new client and parser */
    }
  }
  read_error(client, 503, t); /* read() == 0: the client closed */
}

static void compare(const transcript_t *a, const transcript_t *b, const char *how) {
  size_t common = a->served < b->served ? a->served : b->served;
  for (size_t i = 0; i < common; i++) {
    if (a->digests[i] != b->digests[i]) {
      fprintf(stderr, "FINDING: request %zu is served differently when the input arrives %s\n", i + 1, how);
      abort();
    }
  }
}

static size_t every_split; /* FUZZ_EVERY_SPLIT: inputs up to this long are split at every point */

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  PyPreConfig preconfig;
  PyPreConfig_InitIsolatedConfig(&preconfig);
  preconfig.allocator = PYMEM_ALLOCATOR_MALLOC; /* every Python object is a malloc() that ASan sees */
  if (PyStatus_Exception(Py_PreInitialize(&preconfig))) {
    abort();
  }
  PyConfig config;
  PyConfig_InitIsolatedConfig(&config);
  config.install_signal_handlers = 0;
  if (PyStatus_Exception(Py_InitializeFromConfig(&config))) {
    abort();
  }
  PyConfig_Clear(&config);
  if (PyType_Ready(&ClientObjectType) < 0) {
    abort();
  }
  setup_static_env("fuzz", 80);
  static const char *skipped[] = {"meinheld.client", "wsgi.errors", "wsgi.file_wrapper", "wsgi.version",
                                   "wsgi.input", "REMOTE_ADDR", "REMOTE_PORT"};
  skipped_keys = PySet_New(NULL);
  for (size_t i = 0; skipped_keys != NULL && i < sizeof(skipped) / sizeof(skipped[0]); i++) {
    PyObject *key = PyUnicode_FromString(skipped[i]);
    if (key == NULL || PySet_Add(skipped_keys, key) == -1) {
      abort();
    }
    Py_DECREF(key);
  }
  if (skipped_keys == NULL) {
    abort();
  }
  every_split = getenv("FUZZ_EVERY_SPLIT") ? strtoul(getenv("FUZZ_EVERY_SPLIT"), NULL, 10) : 0;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static transcript_t whole, bytes, split;
  const char *text = (const char *)data;

  run_connection(text, size, whole_reads, 0, &whole);
  run_connection(text, size, byte_reads, 0, &bytes);
  compare(&whole, &bytes, "one byte per read");
  if (size > 1) {
    size_t point = 1 + (size_t)(fnv1a(14695981039346656037ULL, data, size) % (size - 1));
    run_connection(text, size, split_reads, point, &split);
    compare(&whole, &split, "in two reads");
  }
  if (size <= every_split) {
    for (size_t point = 1; point < size; point++) {
      run_connection(text, size, split_reads, point, &split);
      compare(&whole, &split, "in two reads (every split point)");
    }
  }
  return 0;
}
