/* _ctrace: the per-frame filter of the `ctrace` backend, in C.
 *
 * Why: on Python 3.10/3.11 the pure-Python `sys.settrace` recorder pays one Python call
 * for every frame started (about 4.3 million on the real cycle, of which about 1,250 are
 * kept). Here that test is a C function installed with PyEval_SetTrace: it looks the
 * frame's (code, globals) pair up in a table keyed by pointer and calls back into Python
 * only the first time it meets a pair (`decide`) and for the frames of kept code
 * (`on_call`, and `local` for their return/exception events). Everything that makes the
 * evidence stays in the Python recorder.
 *
 * The table holds strong references to the code object and the globals dict of every
 * entry, so a pointer can never be reused by another object while the tracer lives (a
 * freed code's address reused by new code would silently lose calls).
 *
 * Built on demand for the interpreter that runs the scenario (harness/accel.py); standard
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

typedef struct {
    PyObject_HEAD
    PyObject *decide;    /* decide(frame, code) -> identity or None, once per (code, globals) */
    PyObject *on_call;   /* on_call(frame, identity) for every call event of kept code */
    PyObject *local;     /* local(frame, event, arg) for return/exception events of kept code */
    PyObject *event_return;
    PyObject *event_exception;
    Entry *table;
    Py_ssize_t mask;     /* table size - 1 (a power of two minus one) */
    Py_ssize_t used;
    unsigned long long seen;
} Tracer;

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

/* The identity of the frame's code (borrowed; Py_None: foreign), deciding it on first sight. */
static PyObject *
identity_of(Tracer *self, PyFrameObject *frame, int decide)
{
    PyObject *code = frame_code(frame), *globals = frame_globals(frame);
    Entry *entry = find(self, code, globals);
    if (entry->code != NULL) {
        return entry->identity;
    }
    if (!decide) {
        return Py_None;
    }
    PyObject *identity = PyObject_CallFunctionObjArgs(self->decide, (PyObject *)frame, code, NULL);
    if (identity == NULL) {
        return NULL;
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
        identity = identity_of(self, frame, 1);
        if (identity == NULL) {
            return -1;
        }
        if (identity == Py_None) {
            return 0;
        }
        result = PyObject_CallFunctionObjArgs(self->on_call, (PyObject *)frame, identity, NULL);
        break;
    case PyTrace_RETURN:
    case PyTrace_EXCEPTION:
        identity = identity_of(self, frame, 0);
        if (identity == Py_None) {
            return 0;
        }
        result = PyObject_CallFunctionObjArgs(
            self->local, (PyObject *)frame,
            what == PyTrace_RETURN ? self->event_return : self->event_exception,
            arg != NULL ? arg : Py_None, NULL);
        break;
    default:  /* line and opcode events: nothing to do */
        return 0;
    }
    if (result == NULL) {
        return -1;
    }
    Py_DECREF(result);
    return 0;
}

static int
trace_function(PyObject *obj, PyFrameObject *frame, int what, PyObject *arg)
{
    return dispatch((Tracer *)obj, frame, what, arg);
}

/* -- the Python face ------------------------------------------------------------------ */

static int
Tracer_init(Tracer *self, PyObject *args, PyObject *kwds)
{
    static char *names[] = {"decide", "on_call", "local", NULL};
    PyObject *decide, *on_call, *local;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOO", names, &decide, &on_call, &local)) {
        return -1;
    }
    Py_INCREF(decide);
    Py_XSETREF(self->decide, decide);
    Py_INCREF(on_call);
    Py_XSETREF(self->on_call, on_call);
    Py_INCREF(local);
    Py_XSETREF(self->local, local);
    Py_XSETREF(self->event_return, PyUnicode_InternFromString("return"));
    Py_XSETREF(self->event_exception, PyUnicode_InternFromString("exception"));
    if (self->event_return == NULL || self->event_exception == NULL) {
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
    Py_VISIT(self->local);
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
    Py_CLEAR(self->local);
    Py_CLEAR(self->event_return);
    Py_CLEAR(self->event_exception);
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
Tracer_install(Tracer *self, PyObject *Py_UNUSED(ignored))
{
    if (self->table == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "the tracer was not initialised");
        return NULL;
    }
    PyEval_SetTrace(trace_function, (PyObject *)self);
    Py_RETURN_NONE;
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
    {"install", (PyCFunction)Tracer_install, METH_NOARGS,
     "Make this tracer the trace function of the calling thread (PyEval_SetTrace)."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Tracer_getset[] = {
    {"seen", (getter)Tracer_get_seen, NULL, "call events seen, every frame of every module", NULL},
    {"cached", (getter)Tracer_get_cached, NULL, "(code, globals) pairs decided so far", NULL},
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

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_ctrace", "The C per-frame filter of callchain's ctrace backend.", -1, NULL,
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
