"""Work every test's app would repeat, done once for the whole run: parsed URL rules, compiled
templates and URL builders. None changes what an app does; each only skips compiling the same
thing again."""

from __future__ import annotations

from collections.abc import Callable

from jinja2 import BytecodeCache


def parse_url_rules_once() -> None:
    """Let every test's app reuse the parse of each URL rule instead of parsing it again.

    Registering the blueprints parsed each of the app's rules into regular expressions, the
    largest part of creating an app (a fifth of a functional test's fixtures). The parse depends
    only on the rule's text, its slash and host settings and the converter classes; a later app
    gets the same parts, and converters of its own built from the same arguments.
    """
    from werkzeug.routing.rules import Rule

    compile_rule = Rule.compile
    get_converter = Rule.get_converter
    parsed: dict[tuple, tuple] = {}

    def compile_once(self) -> None:
        key = (
            self.rule,
            self.subdomain,
            self.host,
            self.merge_slashes,
            self.map.host_matching,
            tuple(sorted(self.map.converters.items())),
        )
        if key not in parsed:
            converters: list[tuple] = []

            def remember(rule, variable, name, args, kwargs):
                converters.append((variable, name, args, dict(kwargs)))
                return get_converter(rule, variable, name, args, kwargs)

            self.get_converter = remember.__get__(self)
            try:
                compile_rule(self)
            finally:
                del self.get_converter
            parsed[key] = (list(self._parts), list(self._trace), converters)
            return
        parts, trace, converters = parsed[key]
        self._parts = list(parts)
        self._trace = list(trace)
        self._converters = {}
        for variable, name, args, kwargs in converters:
            self._converters[variable] = self.get_converter(variable, name, args, kwargs)
            self.arguments.add(variable)
        self._build = self._compile_builder(False).__get__(self, None)
        self._build_unknown = self._compile_builder(True).__get__(self, None)

    Rule.compile = compile_once


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
