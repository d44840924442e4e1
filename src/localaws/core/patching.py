"""The one way localaws changes other libraries (moto above all): named, ordered, checked, undoable.

Each module of `localaws.services` declares a `Patches` group and registers its changes on it:

    patches = Patches("sagemaker.endpoints", after=("sagemaker.registry",))

    @patches.wrap(SageMakerModelBackend, "create_endpoint")
    def create_endpoint(original, self, *args, **kwargs): ...

    @patches.add(SageMakerModelBackend, "update_endpoint")   # moto lacks it
    def update_endpoint(self, name, config): ...

`replace` / `set` need the attribute to exist, `add` needs it absent, `put` takes either (a
mapping key moto may or may not have); `refresh(fn)` runs `fn()` after the group is applied
and after it is undone, to clear caches moto built from what the group changes.

Registering changes nothing. `apply_all(groups)` first checks every group (each target
attribute present, or absent for `add`; every `after` group earlier in the list) and fails with
one line naming the first problem, such as a moto attribute an upgrade removed; only then does
it apply the groups in the order given (`then=` for groups whose modules can only be imported
once the first ones are applied). Every group records the originals, so `undo()` restores
them (tests use it), and applying twice is a no-op.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

_MISSING = object()


class PatchError(RuntimeError):
    """A patch that cannot be applied: its target is missing, or the declared order is wrong."""


def _describe(owner: object, name: str) -> str:
    """`moto.sagemaker.models.SageMakerModelBackend.create_endpoint`, for error messages."""
    if isinstance(owner, MutableMapping):
        return f"[{name!r}] of a {type(owner).__name__}"
    if isinstance(owner, type):
        return f"{owner.__module__}.{owner.__qualname__}.{name}"
    return f"{getattr(owner, '__name__', repr(owner))}.{name}"


@dataclass
class _Change:
    owner: Any
    name: str
    value: Any
    must_exist: bool | None  # replace/wrap: must be there; add: must not; put: either
    wrapped: Callable[..., Any] | None = None  # for wrap: builds the value from the original
    original: Any = _MISSING
    inherited: bool = False  # the original came from a base class: undo deletes ours

    @property
    def where(self) -> str:
        return _describe(self.owner, self.name)

    def _get(self) -> Any:
        if isinstance(self.owner, MutableMapping):
            return self.owner.get(self.name, _MISSING)
        # The raw attribute (a classmethod, not the method it binds), found along the MRO: one
        # inherited from a base is patched on the subclass.
        return inspect.getattr_static(self.owner, self.name, _MISSING)

    def _set(self, value: Any) -> None:
        if isinstance(self.owner, MutableMapping):
            if value is _MISSING:
                self.owner.pop(self.name, None)
            else:
                self.owner[self.name] = value
        elif value is _MISSING:
            delattr(self.owner, self.name)
        else:
            setattr(self.owner, self.name, value)

    def problem(self) -> str | None:
        if self.must_exist is None:
            return None
        present = self._get() is not _MISSING
        if self.must_exist and not present:
            return f"{self.where} is missing"
        if not self.must_exist and present:
            return f"{self.where} already exists (localaws would replace it unseen)"
        return None

    def apply(self) -> None:
        self.original = self._get()
        self.inherited = (
            self.original is not _MISSING
            and not isinstance(self.owner, MutableMapping)
            and self.name not in getattr(self.owner, "__dict__", {})
        )
        value = self.value
        if self.wrapped is not None:
            value = _bind_original(self.wrapped, self.original)
        self._set(value)

    def undo(self) -> None:
        self._set(_MISSING if self.inherited else self.original)
        self.original = _MISSING


def _bind_original(replacement: Callable[..., Any], original: Any) -> Any:
    """A function calling `replacement(original, ...)`, keeping static/class-method kinds."""
    if isinstance(original, staticmethod):
        inner = original.__func__
        return staticmethod(functools.wraps(inner)(functools.partial(replacement, inner)))
    if isinstance(original, classmethod):
        inner = original.__func__

        @functools.wraps(inner)
        def bound_class(cls: Any, *args: Any, **kwargs: Any) -> Any:
            return replacement(inner.__get__(cls, type(cls)), *args, **kwargs)

        return classmethod(bound_class)

    @functools.wraps(original)
    def call(*args: Any, **kwargs: Any) -> Any:
        return replacement(original, *args, **kwargs)

    return call


@dataclass
class Patches:
    """A named group of changes to other modules, applied and undone as one."""

    name: str
    after: tuple[str, ...] = ()
    _changes: list[_Change] = field(default_factory=list, repr=False)
    _refreshers: list[Callable[[], None]] = field(default_factory=list, repr=False)
    _applied: bool = field(default=False, repr=False)

    def wrap(self, owner: Any, name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator: `owner.name` becomes `fn(original, *args, **kwargs)`."""

        def register(fn: Callable[..., Any]) -> Callable[..., Any]:
            self._changes.append(_Change(owner, name, None, True, wrapped=fn))
            return fn

        return register

    def replace(self, owner: Any, name: str) -> Callable[[Any], Any]:
        """Decorator: `owner.name` (which must exist) becomes the decorated object."""

        def register(value: Any) -> Any:
            self.set(owner, name, value)
            return value

        return register

    def add(self, owner: Any, name: str) -> Callable[[Any], Any]:
        """Decorator: `owner.name` (which must not exist yet) becomes the decorated object."""

        def register(value: Any) -> Any:
            self._changes.append(_Change(owner, name, value, False))
            return value

        return register

    def set(self, owner: Any, name: str, value: Any) -> None:
        """Replace the existing attribute (or mapping key) `owner.name` with `value`."""
        self._changes.append(_Change(owner, name, value, True))

    def put(self, owner: Any, name: str, value: Any) -> None:
        """Set `owner.name` (attribute or mapping key) to `value`, whether or not it exists."""
        self._changes.append(_Change(owner, name, value, None))

    def refresh(self, fn: Callable[[], None]) -> Callable[[], None]:
        """Run `fn()` after the group is applied and after it is undone (usable as decorator)."""
        self._refreshers.append(fn)
        return fn

    def refresh_again(self) -> None:
        """Run the `refresh` functions again: a process forked after the groups were applied
        (the test suite's warm server starts) re-reads the settings they take from its
        environment."""
        for fn in self._refreshers:
            fn()

    def problems(self) -> list[str]:
        return [p for change in self._changes if (p := change.problem())]

    @property
    def applied(self) -> bool:
        return self._applied

    def apply(self) -> None:
        if self._applied:
            return
        problems = self.problems()
        if problems:
            raise PatchError(f"localaws patch group {self.name!r}: {problems[0]}")
        for change in self._changes:
            change.apply()
        self._applied = True
        for fn in self._refreshers:
            fn()

    def undo(self) -> None:
        if not self._applied:
            return
        for change in reversed(self._changes):
            change.undo()
        self._applied = False
        for fn in self._refreshers:
            fn()

    def targets(self) -> list[str]:
        """Every attribute this group changes, for documentation and checks."""
        return [change.where for change in self._changes]


def check(groups: Sequence[Patches], earlier: Iterable[str] = ()) -> None:
    """Raise PatchError with one line for the first problem in `groups`, in their order.

    `earlier`: names of groups applied before these, which `after=` may name.
    """
    seen: set[str] = set(earlier)
    for group in groups:
        missing = [dep for dep in group.after if dep not in seen]
        if missing:
            raise PatchError(
                f"localaws patch group {group.name!r} must come after {missing[0]!r}, "
                "which the declared order puts later or omits"
            )
        seen.add(group.name)
        if not group.applied:
            problems = group.problems()
            if problems:
                raise PatchError(f"localaws patch group {group.name!r}: {problems[0]}")


def apply_all(
    groups: Sequence[Patches], then: Callable[[], Sequence[Patches]] | None = None
) -> None:
    """Check every group, then apply them in the order given (idempotent).

    `then()` lists groups that can only be built once `groups` are applied (their modules
    import what `groups` change at import): checked and applied next. A problem anywhere undoes
    what this call applied: a start that fails leaves nothing applied.
    """
    done: list[Patches] = []  # applied by this call: undone if a later step fails
    names: list[str] = []  # every group so far, which `after=` may name
    try:
        _check_and_apply(groups, done, names)
        if then is not None:
            _check_and_apply(then(), done, names)
    except BaseException:
        undo_all(done)
        raise


def _check_and_apply(groups: Sequence[Patches], done: list[Patches], names: list[str]) -> None:
    check(groups, names)
    for group in groups:
        if not group.applied:
            group.apply()
            done.append(group)
    names.extend(group.name for group in groups)


def undo_all(groups: Iterable[Patches]) -> None:
    """Undo every group, last applied first."""
    for group in reversed(list(groups)):
        group.undo()
