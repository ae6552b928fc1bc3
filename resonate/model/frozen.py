# -*- test-case-name: tests.unit.test_model_frozen -*-
"""
A quicker C{__init__} for frozen dataclasses that are made on every
request.
"""

from dataclasses import MISSING, fields


def quickInit(cls):
    """
    Give the frozen dataclass C{cls} an C{__init__} that stores its fields
    in the instance's C{__dict__} directly.

    A frozen dataclass's own C{__init__} sets each field through
    C{object.__setattr__} (the class's refuses), about twice the cost of
    the whole construction: a request makes several (its request, a
    value, the promise, the decision and its write), on the reactor and
    on the store's threads.  This one takes the same arguments, positional
    or by name, with the same defaults (a default factory is called for
    each instance), and makes an equal instance; the class stays frozen.

    Apply it above C{@dataclass(frozen=True)}, to a class without
    C{__post_init__}, C{InitVar}s, C{init=False} or keyword-only fields, or
    C{__slots__}.

    @return: C{cls}.
    """
    if getattr(cls, "__post_init__", None) is not None:
        raise TypeError(f"{cls.__name__} has __post_init__")
    namespace = {"_MISSING": MISSING}
    parameters = []
    lines = []
    for f in fields(cls):
        if not f.init or f.kw_only:
            raise TypeError(f"{cls.__name__}.{f.name} is not a plain field")
        name = f.name
        if f.default is not MISSING:
            namespace[f"_default_{name}"] = f.default
            parameters.append(f"{name}=_default_{name}")
            lines.append(f"    _values_[{name!r}] = {name}")
        elif f.default_factory is not MISSING:
            namespace[f"_factory_{name}"] = f.default_factory
            parameters.append(f"{name}=_MISSING")
            lines.append(
                f"    _values_[{name!r}] = "
                f"_factory_{name}() if {name} is _MISSING else {name}"
            )
        else:
            parameters.append(name)
            lines.append(f"    _values_[{name!r}] = {name}")
    source = (
        f"def __init__(self, {', '.join(parameters)}):\n"
        "    _values_ = self.__dict__\n" + "\n".join(lines) + "\n"
    )
    exec(source, namespace)
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__doc__ = cls.__init__.__doc__
    cls.__init__ = init
    return cls
