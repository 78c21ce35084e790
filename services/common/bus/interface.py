"""How a service declares its D-Bus methods: the signature, who may call, the cheap argument check.

`@bus_method(auth=..., validate=...)` marks a method of an `Interface`. The dispatcher sees every
call first and runs the same steps for each: unpack, validate (bad input never causes a password
prompt), authorize, call, map errors, reply. A `validate` that parses (JSON into a model) returns
the parsed arguments, and the method gets those: the text is parsed once, and the method reads the
value with `parsed()`. dbus-fast's own `@dbus_method` is applied underneath
so introspection stays the library's, but its dispatch is never reached for these members.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, TypeVar

from dbus_fast.introspection import Interface as IntrospectedInterface
from dbus_fast.service import ServiceInterface, dbus_method

_SPEC_ATTR = "__waagent_bus_method__"


@dataclass(frozen=True)
class Auth:
    """Who may call a method.

    Root is always allowed. `users` are service accounts allowed by name without asking polkit
    (wire calling extd). With an `action`, anyone else is asked about through polkit; without
    one, anyone else is refused. `public` methods need nothing.
    """

    action: str | None = None
    users: tuple[str, ...] = ()
    public: bool = False
    # Picks the action from the call's arguments, for a flag that makes a call more destructive
    # (Deprovision with delete_user): called with the arguments after validation.
    choose: Callable[..., str] | None = None

    def for_call(self, args: Sequence[Any]) -> Auth:
        """The authorization of one call: `choose` resolved against its arguments."""
        if self.choose is None:
            return self
        return replace(self, action=self.choose(*args), choose=None)

    def describe(self) -> str:
        if self.public:
            return "anyone"
        who = ["root", *self.users]
        if self.action:
            who.append(f"callers polkit authorizes for {self.action}")
        return ", ".join(who)


PUBLIC = Auth(public=True)
ROOT_ONLY = Auth()


def polkit_action(action: str, *, users: tuple[str, ...] = ()) -> Auth:
    return Auth(action=action, users=users)


def polkit_action_by(choose: Callable[..., str]) -> Auth:
    """A polkit action that depends on the arguments: `choose(*args)` returns its id."""
    return Auth(choose=choose)


@dataclass(frozen=True)
class MethodSpec:
    member: str
    fn: Callable[..., Any]
    auth: Auth
    # Raises InvalidArgs; returns the arguments the method gets instead (None: as received).
    validate: Callable[..., tuple[Any, ...] | None] | None = None
    # Filled in when the interface is registered, from the library's introspection.
    in_signature: str = field(default="", compare=False)
    out_signature: str = field(default="", compare=False)


F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


def bus_method(
    *,
    auth: Auth,
    name: str | None = None,
    validate: Callable[..., tuple[Any, ...] | None] | None = None,
) -> Callable[[F], F]:
    """Declare a D-Bus method. `validate(self, *args)` raises InvalidArgs before authorization;
    when it returns a tuple, the method is called with those arguments instead."""

    def decorator(fn: F) -> F:
        member = name or fn.__name__
        wrapped = dbus_method(name=member)(fn)
        setattr(wrapped, _SPEC_ATTR, MethodSpec(member, fn, auth, validate))
        return wrapped  # type: ignore[return-value]

    return decorator


def parsed(value: object, kind: type[T]) -> T:
    """An argument as its method's `validate` parsed it (the annotation is the D-Bus type)."""
    if not isinstance(value, kind):
        raise TypeError(f"expected a {kind.__name__} from validate, not {type(value).__name__}")
    return value


class Interface(ServiceInterface):
    """Base of every waagent interface; subclasses set NAME and declare `@bus_method`s."""

    NAME: ClassVar[str]

    def __init__(self) -> None:
        super().__init__(self.NAME)

    @classmethod
    def method_specs(cls) -> dict[str, MethodSpec]:
        specs: dict[str, MethodSpec] = {}
        for klass in reversed(cls.__mro__):
            for attr in vars(klass).values():
                spec = getattr(attr, _SPEC_ATTR, None)
                if isinstance(spec, MethodSpec):
                    specs[spec.member] = spec
        return specs

    @classmethod
    def describe(cls) -> IntrospectedInterface:
        """Introspection data of the class, without a bus or a backing implementation."""
        bare = cls.__new__(cls)
        Interface.__init__(bare)
        return bare.introspect()
