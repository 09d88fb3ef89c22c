/* _ctrace: the per-frame filter of the `ctrace` backend, in C.
 *
 * Why: on Python 3.10/3.11 the pure-Python `sys.settrace` recorder pays one Python call
 * for every frame started (about 4.3 million on the real cycle, of which about 1,250 are
 * kept), and any trace function at all puts the interpreter in its slow tracing mode
 * (on 3.11: no specialised instructions, a line-number lookup per instruction, a frame
 * object per call). Here the test is in C and looks the frame's (code, globals) pair up
 * in a table keyed by pointer; Python is called only the first time a pair is met
 * (`decide`) and for the frames of kept code. Everything that makes the evidence stays in
 * the Python recorder.
 *
 * How frames reach the test:
 * - Python 3.10 and 3.11: the frame-evaluation hook (PEP 523), which sees every frame
 *   evaluation (calls and generator resumptions) with no tracing mode at all: foreign
 *   frames run at full speed. For a kept frame the hook installs a trace function of its
 *   own for that evaluation (`kept_trace`), so the interpreter itself delivers the frame's
 *   `call` and `line` events exactly when `sys.settrace` would (with its frame object), and
 *   the hook calls `on_return` when the evaluation ends (the value, or the name of the
 *   exception that ends it). A foreign frame the kept frame calls runs without it
 *   (`foreign_child`): a one-shot function reports its call event as a library call
 *   (`on_foreign`) and removes itself, and the kept frame's function is put back after.
 * - Python 3.12+: a C trace function (PyEval_SetTrace) with the same table; `on_call` for
 *   kept calls and `local` for their return/exception events (there `sys.monitoring` is
 *   the default backend; this path exists so the table is exercised everywhere).
 *
 * The table holds strong references to the code object and the globals dict of every
 * entry, so a pointer can never be reused by another object while the tracer lives (a
 * freed code's address reused by new code would silently lose calls).
 *
 * Built on demand for the interpreter that runs the scenario (harness/trace/accel.py); standard
 * C API only (PyFrame_GetCode, PyFrame_GetGlobals on 3.11+, the public frame struct on
 * 3.10).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <frameobject.h>

#if PY_VERSION_HEX < 0x030A0000
#error "callchain's _ctrace needs Python 3.10 or newer"
#endif

typedef struct {
    PyObject *code;      /* strong reference; NULL: empty slot */
    PyObject *globals;   /* strong reference */
    PyObject *identity;  /* strong reference; Py_None for foreign code */
} Entry;

#if PY_VERSION_HEX < 0x030C0000
#define USE_EVAL_HOOK 1
#if PY_VERSION_HEX >= 0x030B0000
#define Py_BUILD_CORE 1
#include "internal/pycore_frame.h"  /* _PyInterpreterFrame: f_code, f_globals */
#undef Py_BUILD_CORE
typedef struct _PyInterpreterFrame EvalFrame;
#define EVAL_CODE(f) ((PyObject *)(f)->f_code)
#define EVAL_GLOBALS(f) ((f)->f_globals)
#define ENTER_TRACING(t) PyThreadState_EnterTracing(t)
#define LEAVE_TRACING(t) PyThreadState_LeaveTracing(t)
#else
typedef PyFrameObject EvalFrame;
#define EVAL_CODE(f) ((PyObject *)(f)->f_code)
#define EVAL_GLOBALS(f) ((f)->f_globals)
#define ENTER_TRACING(t) ((t)->tracing++)
#define LEAVE_TRACING(t) ((t)->tracing--)
#endif
#else
#define USE_EVAL_HOOK 0
#endif

typedef struct {
    PyObject_HEAD
    PyObject *decide;    /* decide(code, globals) -> identity or None, once per (code, globals) */
    PyObject *on_call;   /* on_call(frame, identity) for every call event of kept code */
    PyObject *on_return; /* on_return(frame, value, raised) when a kept frame's evaluation ends (hook) */
    PyObject *local;     /* local(frame, event, arg) for return/exception events of kept code (trace function) */
    PyObject *event_return;
    PyObject *event_exception;
    PyObject *event_line;
    PyObject *on_foreign; /* on_foreign(frame) for a foreign frame whose caller is kept code (NULL: not asked) */
    Entry *table;
    Py_ssize_t mask;     /* table size - 1 (a power of two minus one) */
    Py_ssize_t used;
    unsigned long long seen;
    PyThreadState *only;  /* when not NULL: the one thread recorded (the hook sees every thread) */
    int hooked;
} Tracer;

#if USE_EVAL_HOOK
static Tracer *hooked_tracer = NULL;  /* the tracer behind the evaluation hook (one per process) */
#endif

static inline size_t
slot_of(PyObject *code, PyObject *globals)
{
    size_t a = (size_t)code, b = (size_t)globals;
    size_t h = (a >> 4) ^ (b >> 3) * (size_t)0x9E3779B97F4A7C15ULL;
    return h ^ (h >> 17);
}

static Entry *
find(Tracer *self, PyObject *code, PyObject *globals)
{
    size_t i = slot_of(code, globals) & (size_t)self->mask;
    for (;;) {
        Entry *entry = &self->table[i];
        if (entry->code == NULL || (entry->code == code && entry->globals == globals)) {
            return entry;
        }
        i = (i + 1) & (size_t)self->mask;
    }
}

static int
grow(Tracer *self)
{
    Py_ssize_t old_size = self->mask + 1, size = old_size * 2;
    Entry *old = self->table;
    Entry *table = PyMem_Calloc((size_t)size, sizeof(Entry));
    if (table == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    self->table = table;
    self->mask = size - 1;
    for (Py_ssize_t i = 0; i < old_size; i++) {
        if (old[i].code != NULL) {
            *find(self, old[i].code, old[i].globals) = old[i];
        }
    }
    PyMem_Free(old);
    return 0;
}

static inline PyObject *
frame_code(PyFrameObject *frame)  /* borrowed */
{
#if PY_VERSION_HEX >= 0x030B0000
    PyObject *code = (PyObject *)PyFrame_GetCode(frame);
    Py_DECREF(code);  /* the frame keeps it alive */
    return code;
#else
    return (PyObject *)frame->f_code;
#endif
}

static inline PyObject *
frame_globals(PyFrameObject *frame)  /* borrowed */
{
#if PY_VERSION_HEX >= 0x030B0000
    PyObject *globals = PyFrame_GetGlobals(frame);
    Py_DECREF(globals);  /* the frame keeps it alive */
    return globals;
#else
    return frame->f_globals;
#endif
}

/* The identity of (code, globals) (borrowed; Py_None: foreign), deciding it on first sight. */
static PyObject *
identity_of(Tracer *self, PyObject *code, PyObject *globals, int decide)
{
    Entry *entry = find(self, code, globals);
    if (entry->code != NULL) {
        return entry->identity;
    }
    if (!decide || globals == NULL) {
        return Py_None;
    }
    PyObject *identity = PyObject_CallFunctionObjArgs(self->decide, code, globals, NULL);
    if (identity == NULL) {
        return NULL;
    }
    if (identity == Py_None && !(((PyCodeObject *)code)->co_flags & CO_NEWLOCALS)) {
        /* Foreign module and class bodies (and exec'd top-level code) run about once: keeping
         * them alive in the table would cost memory (tens of MiB on TensorFlow) for nothing. */
        Py_DECREF(identity);
        return Py_None;  /* borrowed, like every answer of this function */
    }
    /* `decide` ran Python code: look the slot up again before filling it. */
    if ((self->used + 1) * 2 > self->mask + 1 && grow(self) < 0) {
        Py_DECREF(identity);
        return NULL;
    }
    entry = find(self, code, globals);
    if (entry->code == NULL) {
        Py_INCREF(code);
        Py_INCREF(globals);
        entry->code = code;
        entry->globals = globals;
        entry->identity = identity;  /* takes the reference */
        self->used++;
    } else {
        Py_DECREF(identity);
    }
    return entry->identity;
}

static int
dispatch(Tracer *self, PyFrameObject *frame, int what, PyObject *arg)
{
    PyObject *identity, *result;
    switch (what) {
    case PyTrace_CALL:
        self->seen++;
        identity = identity_of(self, frame_code(frame), frame_globals(frame), 1);
        if (identity == NULL) {
            return -1;
        }
        if (identity == Py_None) {
            /* A library call (libcalls.py): the caller is kept code. */
            if (self->on_foreign == NULL) {
                return 0;
            }
            PyFrameObject *back = PyFrame_GetBack(frame);
            if (back == NULL) {
                return 0;
            }
            PyObject *caller = identity_of(self, frame_code(back), frame_globals(back), 0);
            Py_DECREF(back);
            if (caller == Py_None) {
                return 0;
            }
            result = PyObject_CallFunctionObjArgs(self->on_foreign, (PyObject *)frame, NULL);
            break;
        }
        result = PyObject_CallFunctionObjArgs(self->on_call, (PyObject *)frame, identity, NULL);
        break;
    case PyTrace_LINE:
        /* Lines of kept code only: config changes and native writes at their line. */
        if (self->on_foreign == NULL) {
            return 0;
        }
        identity = identity_of(self, frame_code(frame), frame_globals(frame), 0);
        if (identity == Py_None) {
            return 0;
        }
        result = PyObject_CallFunctionObjArgs(self->local, (PyObject *)frame, self->event_line, Py_None, NULL);
        break;
    case PyTrace_RETURN:
    case PyTrace_EXCEPTION:
        identity = identity_of(self, frame_code(frame), frame_globals(frame), 0);
        if (identity == Py_None) {
            return 0;
        }
        result = PyObject_CallFunctionObjArgs(
            self->local, (PyObject *)frame,
            what == PyTrace_RETURN ? self->event_return : self->event_exception,
            arg != NULL ? arg : Py_None, NULL);
        break;
    default:  /* opcode events: nothing to do */
        return 0;
    }
    if (result == NULL) {
        return -1;
    }
    Py_DECREF(result);
    return 0;
}

#if !USE_EVAL_HOOK
static int
trace_function(PyObject *obj, PyFrameObject *frame, int what, PyObject *arg)
{
    return dispatch((Tracer *)obj, frame, what, arg);
}
#endif

#if USE_EVAL_HOOK
/* -- the frame-evaluation hook (3.10, 3.11) ------------------------------------------ */

typedef struct {
    Tracer *tracer;
    PyObject *identity;     /* borrowed from the table */
    PyObject *frame;        /* the kept frame, once its call event came (strong) */
    Py_tracefunc old_func;  /* the trace function kept_trace replaced (the calling kept frame's, or none) */
    PyObject *old_obj;      /* strong */
    int armed;
} Pending;

static void
disarm(PyThreadState *tstate, Pending *pending)
{
    if (!pending->armed) {
        return;
    }
    pending->armed = 0;
    PyObject *old = pending->old_obj;
    pending->old_obj = NULL;
    PyEval_SetTrace(pending->old_func, old);  /* drops the capsule that pointed here */
    Py_XDECREF(old);
}

/* The trace function of a kept frame's evaluation. Its first event is the frame's `call`
 * event (unless the frame was entered by a throw, where CPython 3.11 sends none: then it
 * removes itself), which goes to `on_call`; it stays installed while the frame runs, so
 * the interpreter delivers the frame's `line` events, which go to `local` (config changes
 * and native writes at their line). Every other Python frame this one calls is evaluated
 * through the hook, which takes this function away for that evaluation (`foreign_child`),
 * so foreign code still runs with no tracing mode at all. */
static int
kept_trace(PyObject *capsule, PyFrameObject *frame, int what, PyObject *arg)
{
    Pending *pending = (Pending *)PyCapsule_GetPointer(capsule, NULL);
    if (pending == NULL) {
        return -1;
    }
    PyObject *result;
    if (pending->frame == NULL) {
        if (what != PyTrace_CALL) {
            disarm(PyThreadState_Get(), pending);
            return 0;
        }
        Py_INCREF(frame);
        pending->frame = (PyObject *)frame;
        result = PyObject_CallFunctionObjArgs(pending->tracer->on_call, (PyObject *)frame, pending->identity, NULL);
    } else if (what == PyTrace_LINE && (PyObject *)frame == pending->frame) {
        result = PyObject_CallFunctionObjArgs(pending->tracer->local, (PyObject *)frame, pending->tracer->event_line,
                                              Py_None, NULL);
    } else {
        return 0;  /* return and exception events: the hook reports how the evaluation ends */
    }
    if (result == NULL) {
        return -1;
    }
    Py_DECREF(result);
    return 0;
}

/* The one-shot trace function of a foreign frame called by a kept one: its `call` event is a
 * library call (libcalls.py; the recorder checks the caller), and it removes itself at once,
 * so the foreign frame's body runs untraced. The capsule holds the tracer (borrowed: the
 * hook holds it while installed). */
static int
child_trace(PyObject *capsule, PyFrameObject *frame, int what, PyObject *arg)
{
    Tracer *self = (Tracer *)PyCapsule_GetPointer(capsule, "_ctrace.child");
    if (self == NULL) {
        return -1;
    }
    PyEval_SetTrace(NULL, NULL);  /* drops the capsule */
    if (what != PyTrace_CALL || self->on_foreign == NULL) {
        return 0;
    }
    PyObject *result = PyObject_CallFunctionObjArgs(self->on_foreign, (PyObject *)frame, NULL);
    if (result == NULL) {
        return -1;
    }
    Py_DECREF(result);
    return 0;
}

/* A foreign frame evaluated while a kept frame's trace function is installed: its caller is
 * that kept frame (every Python frame in between would have come through the hook). It runs
 * without the kept frame's trace function, which is put back when it ends; a one-shot
 * function reports its call event as a library call when the kept frame's call was seen. */
static PyObject *
foreign_child(Tracer *self, PyThreadState *tstate, EvalFrame *frame, int throwflag)
{
    Py_tracefunc func = tstate->c_tracefunc;
    PyObject *obj = tstate->c_traceobj;
    Pending *kept = (Pending *)PyCapsule_GetPointer(obj, NULL);
    Py_INCREF(obj);
    PyObject *child = NULL;
    if (kept != NULL && kept->frame != NULL && !throwflag && self->on_foreign != NULL) {
        child = PyCapsule_New(self, "_ctrace.child", NULL);
    }
    PyErr_Clear();  /* PyCapsule_GetPointer's complaint, if any: nothing to report */
    PyEval_SetTrace(child != NULL ? child_trace : NULL, child);
    Py_XDECREF(child);  /* the thread state holds it until the one-shot function fires */
    PyObject *result = _PyEval_EvalFrameDefault(tstate, frame, throwflag);
    PyObject *type, *value, *traceback;
    PyErr_Fetch(&type, &value, &traceback);
    PyEval_SetTrace(func, obj);
    PyErr_Restore(type, value, traceback);
    Py_DECREF(obj);
    return result;
}

static PyObject *
exception_name(PyObject *type)
{
    if (type == NULL || !PyType_Check(type)) {
        return PyUnicode_FromString("exception");
    }
    const char *name = ((PyTypeObject *)type)->tp_name, *dot = strrchr(name, '.');
    return PyUnicode_FromString(dot ? dot + 1 : name);  /* what type.__name__ says */
}

static PyObject *
finish(Tracer *self, PyThreadState *tstate, Pending *pending, PyObject *result)
{
    PyObject *type = NULL, *value = NULL, *traceback = NULL, *raised = NULL, *done;
    if (result == NULL) {
        PyErr_Fetch(&type, &value, &traceback);
        raised = exception_name(type);
    }
    ENTER_TRACING(tstate);
    done = raised == NULL && result == NULL ? NULL : PyObject_CallFunctionObjArgs(
        self->on_return, pending->frame, result != NULL ? result : Py_None, raised != NULL ? raised : Py_None, NULL);
    LEAVE_TRACING(tstate);
    Py_CLEAR(pending->frame);
    Py_XDECREF(raised);
    if (done == NULL) {
        /* The recorder failed. Say so, and leave the frame's own outcome alone: failing a
         * generator that has just yielded would leave it half-finished. */
        PyErr_WriteUnraisable(self->on_return);
    } else {
        Py_DECREF(done);
    }
    if (result == NULL) {
        PyErr_Restore(type, value, traceback);
    }
    return result;
}

static PyObject *
eval_hook(PyThreadState *tstate, EvalFrame *frame, int throwflag)
{
    Tracer *self = hooked_tracer;
    if (self == NULL || tstate->tracing || (self->only != NULL && self->only != tstate)) {
        return _PyEval_EvalFrameDefault(tstate, frame, throwflag);
    }
    self->seen++;
    PyObject *code = EVAL_CODE(frame), *globals = EVAL_GLOBALS(frame);
    Entry *entry = find(self, code, globals);
    PyObject *identity = entry->code != NULL ? entry->identity : NULL;
    if (identity == NULL) {
        ENTER_TRACING(tstate);
        identity = identity_of(self, code, globals, 1);
        LEAVE_TRACING(tstate);
        if (identity == NULL) {
            return NULL;
        }
    }
    if (identity == Py_None) {
        if (tstate->c_tracefunc == kept_trace) {
            return foreign_child(self, tstate, frame, throwflag);
        }
        return _PyEval_EvalFrameDefault(tstate, frame, throwflag);
    }
    Pending pending = {self, identity, NULL, tstate->c_tracefunc, tstate->c_traceobj, 1};
    Py_XINCREF(pending.old_obj);
    PyObject *capsule = PyCapsule_New(&pending, NULL, NULL);
    if (capsule == NULL) {
        Py_XDECREF(pending.old_obj);
        return NULL;
    }
    PyEval_SetTrace(kept_trace, capsule);
    Py_DECREF(capsule);  /* the thread state holds it while the frame runs */
    PyObject *result = _PyEval_EvalFrameDefault(tstate, frame, throwflag);
    PyObject *type, *value, *traceback;
    PyErr_Fetch(&type, &value, &traceback);
    disarm(tstate, &pending);  /* puts back the trace function of the kept frame that called this one, if any */
    PyErr_Restore(type, value, traceback);
    if (pending.frame == NULL) {
        return result;
    }
    return finish(self, tstate, &pending, result);
}
#endif

/* -- the Python face ------------------------------------------------------------------ */

static int
Tracer_init(Tracer *self, PyObject *args, PyObject *kwds)
{
    static char *names[] = {"decide", "on_call", "on_return", "local", "on_foreign", NULL};
    PyObject *decide, *on_call, *on_return, *local, *on_foreign = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOOO|O", names, &decide, &on_call, &on_return, &local,
                                     &on_foreign)) {
        return -1;
    }
    if (on_foreign == Py_None) {
        Py_CLEAR(self->on_foreign);
    } else {
        Py_INCREF(on_foreign);
        Py_XSETREF(self->on_foreign, on_foreign);
    }
    Py_INCREF(on_return);
    Py_XSETREF(self->on_return, on_return);
    Py_INCREF(decide);
    Py_XSETREF(self->decide, decide);
    Py_INCREF(on_call);
    Py_XSETREF(self->on_call, on_call);
    Py_INCREF(local);
    Py_XSETREF(self->local, local);
    Py_XSETREF(self->event_return, PyUnicode_InternFromString("return"));
    Py_XSETREF(self->event_exception, PyUnicode_InternFromString("exception"));
    Py_XSETREF(self->event_line, PyUnicode_InternFromString("line"));
    if (self->event_return == NULL || self->event_exception == NULL || self->event_line == NULL) {
        return -1;
    }
    if (self->table == NULL) {
        self->table = PyMem_Calloc(1024, sizeof(Entry));
        if (self->table == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        self->mask = 1023;
    }
    return 0;
}

static void
clear_table(Tracer *self)
{
    if (self->table == NULL) {
        return;
    }
    for (Py_ssize_t i = 0; i <= self->mask; i++) {
        Py_CLEAR(self->table[i].code);
        Py_CLEAR(self->table[i].globals);
        Py_CLEAR(self->table[i].identity);
    }
    PyMem_Free(self->table);
    self->table = NULL;
    self->used = 0;
}

static int
Tracer_traverse(Tracer *self, visitproc visit, void *arg)
{
    Py_VISIT(self->decide);
    Py_VISIT(self->on_call);
    Py_VISIT(self->on_return);
    Py_VISIT(self->local);
    Py_VISIT(self->on_foreign);
    if (self->table != NULL) {
        for (Py_ssize_t i = 0; i <= self->mask; i++) {
            Py_VISIT(self->table[i].code);
            Py_VISIT(self->table[i].globals);
            Py_VISIT(self->table[i].identity);
        }
    }
    return 0;
}

static int
Tracer_clear(Tracer *self)
{
    Py_CLEAR(self->decide);
    Py_CLEAR(self->on_call);
    Py_CLEAR(self->on_return);
    Py_CLEAR(self->local);
    Py_CLEAR(self->event_return);
    Py_CLEAR(self->event_exception);
    Py_CLEAR(self->event_line);
    Py_CLEAR(self->on_foreign);
    clear_table(self);
    return 0;
}

static void
Tracer_dealloc(Tracer *self)
{
    PyObject_GC_UnTrack(self);
    Tracer_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
Tracer_install(Tracer *self, PyObject *args, PyObject *kwds)
{
    static char *names[] = {"all_threads", NULL};
    int all_threads = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|p", names, &all_threads)) {
        return NULL;
    }
    if (self->table == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "the tracer was not initialised");
        return NULL;
    }
#if USE_EVAL_HOOK
    if (hooked_tracer != NULL && hooked_tracer != self) {
        PyErr_SetString(PyExc_RuntimeError, "another callchain tracer is installed in this process");
        return NULL;
    }
    PyInterpreterState *interp = PyInterpreterState_Get();
    _PyFrameEvalFunction current = _PyInterpreterState_GetEvalFrameFunc(interp);
    if (current != _PyEval_EvalFrameDefault && current != eval_hook) {
        PyErr_SetString(PyExc_RuntimeError, "another frame-evaluation hook (PEP 523) is installed in this process");
        return NULL;
    }
    self->only = all_threads ? NULL : PyThreadState_Get();
    Py_INCREF(self);
    Py_XSETREF(hooked_tracer, self);
    self->hooked = 1;
    _PyInterpreterState_SetEvalFrameFunc(interp, eval_hook);
#else
    PyEval_SetTrace(trace_function, (PyObject *)self);
#endif
    Py_RETURN_NONE;
}

/* Stop recording: remove the hook (the trace function is removed with sys.settrace(None)). */
static PyObject *
Tracer_uninstall(Tracer *self, PyObject *Py_UNUSED(ignored))
{
#if USE_EVAL_HOOK
    if (hooked_tracer == self) {
        _PyInterpreterState_SetEvalFrameFunc(PyInterpreterState_Get(), _PyEval_EvalFrameDefault);
        hooked_tracer = NULL;
        self->hooked = 0;
        Py_DECREF(self);
    }
#else
    if (PyThreadState_Get()->c_traceobj == (PyObject *)self) {
        PyEval_SetTrace(NULL, NULL);
    }
#endif
    Py_RETURN_NONE;
}

static PyObject *
Tracer_get_mechanism(Tracer *self, void *Py_UNUSED(closure))
{
    return PyUnicode_FromString(USE_EVAL_HOOK ? "frame-evaluation hook (PEP 523)" : "C trace function (PyEval_SetTrace)");
}

static PyObject *
Tracer_get_installed(Tracer *self, void *Py_UNUSED(closure))
{
#if USE_EVAL_HOOK
    return PyBool_FromLong(hooked_tracer == self
                           && _PyInterpreterState_GetEvalFrameFunc(PyInterpreterState_Get()) == eval_hook);
#else
    return PyBool_FromLong(PyThreadState_Get()->c_traceobj == (PyObject *)self);
#endif
}

/* tracer(frame, event, arg): the same filter called as a Python trace function. Used for
 * the one event that reaches a new thread's bootstrap before the C function is installed. */
static PyObject *
Tracer_call(Tracer *self, PyObject *args, PyObject *kwds)
{
    PyObject *frame, *arg;
    const char *event;
    if (!PyArg_ParseTuple(args, "O!sO", &PyFrame_Type, &frame, &event, &arg)) {
        return NULL;
    }
    int what = strcmp(event, "call") == 0 ? PyTrace_CALL
             : strcmp(event, "return") == 0 ? PyTrace_RETURN
             : strcmp(event, "exception") == 0 ? PyTrace_EXCEPTION : PyTrace_LINE;
    if (dispatch(self, (PyFrameObject *)frame, what, arg) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
Tracer_get_seen(Tracer *self, void *Py_UNUSED(closure))
{
    return PyLong_FromUnsignedLongLong(self->seen);
}

static PyObject *
Tracer_get_cached(Tracer *self, void *Py_UNUSED(closure))
{
    return PyLong_FromSsize_t(self->used);
}

static PyMethodDef Tracer_methods[] = {
    {"install", (PyCFunction)(void (*)(void))Tracer_install, METH_VARARGS | METH_KEYWORDS,
     "install(all_threads=False): start recording (the evaluation hook on 3.10/3.11, else this thread's trace function)."},
    {"uninstall", (PyCFunction)Tracer_uninstall, METH_NOARGS, "Stop recording."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Tracer_getset[] = {
    {"seen", (getter)Tracer_get_seen, NULL, "call events seen, every frame of every module", NULL},
    {"cached", (getter)Tracer_get_cached, NULL, "(code, globals) pairs decided so far", NULL},
    {"mechanism", (getter)Tracer_get_mechanism, NULL, "how frames reach the filter", NULL},
    {"installed", (getter)Tracer_get_installed, NULL, "whether this tracer still receives frames", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject TracerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_ctrace.Tracer",
    .tp_doc = "Tracer(decide, on_call, local): a C trace function that calls Python only for kept code.",
    .tp_basicsize = sizeof(Tracer),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Tracer_init,
    .tp_dealloc = (destructor)Tracer_dealloc,
    .tp_traverse = (traverseproc)Tracer_traverse,
    .tp_clear = (inquiry)Tracer_clear,
    .tp_call = (ternaryfunc)Tracer_call,
    .tp_methods = Tracer_methods,
    .tp_getset = Tracer_getset,
};

/* _ctrace.current(): the tracer receiving this thread's frames, or None. */
static PyObject *
current(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    PyObject *found = NULL;
#if USE_EVAL_HOOK
    if (hooked_tracer != NULL && _PyInterpreterState_GetEvalFrameFunc(PyInterpreterState_Get()) == eval_hook
        && (hooked_tracer->only == NULL || hooked_tracer->only == PyThreadState_Get())) {
        found = (PyObject *)hooked_tracer;
    }
#else
    PyObject *installed = PyThreadState_Get()->c_traceobj;
    if (installed != NULL && Py_IS_TYPE(installed, &TracerType)) {
        found = installed;
    }
#endif
    if (found == NULL) {
        Py_RETURN_NONE;
    }
    Py_INCREF(found);
    return found;
}

static PyMethodDef module_methods[] = {
    {"current", current, METH_NOARGS, "The tracer receiving this thread's frames, or None."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_ctrace", "The C per-frame filter of callchain's ctrace backend.", -1, module_methods,
};

PyMODINIT_FUNC
PyInit__ctrace(void)
{
    if (PyType_Ready(&TracerType) < 0) {
        return NULL;
    }
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) {
        return NULL;
    }
    Py_INCREF(&TracerType);
    if (PyModule_AddObject(m, "Tracer", (PyObject *)&TracerType) < 0) {
        Py_DECREF(&TracerType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
