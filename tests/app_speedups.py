"""Work every test's app would repeat, done once for the whole run: compiled templates and URL
builders. Neither changes what an app does; both only skip compiling the same thing again."""

from __future__ import annotations

from collections.abc import Callable

from jinja2 import BytecodeCache


def build_url_builders_once() -> None:
    """Let every test's app share the URL builder functions werkzeug compiles per rule.

    Creating an app compiles two small Python functions for each URL rule, a quarter of the
    time of a functional test. A builder depends only on the rule's parsed parts (the
    converters are looked up on the rule when it runs), unless a default fills one of its
    variables: those are compiled as before.
    """
    from werkzeug.routing.rules import Rule

    compile_builder = Rule._compile_builder
    built: dict[tuple, Callable] = {}

    def build_once(self, append_unknown: bool = True):
        defaults = self.defaults or {}
        if any(is_dynamic and data in defaults for is_dynamic, data in self._trace):
            return compile_builder(self, append_unknown)
        key = (tuple(self._trace), append_unknown)
        if key not in built:
            built[key] = compile_builder(self, append_unknown)
        return built[key]

    Rule._compile_builder = build_once


class SharedTemplateCache(BytecodeCache):
    """Compiled templates shared by every test's app, so each template is compiled once."""

    def __init__(self) -> None:
        self.compiled: dict[str, bytes] = {}

    def load_bytecode(self, bucket) -> None:
        if (code := self.compiled.get(bucket.key)) is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket) -> None:
        self.compiled[bucket.key] = bucket.bytecode_to_string()


TEMPLATES = SharedTemplateCache()
