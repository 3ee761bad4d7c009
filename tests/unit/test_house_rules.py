"""The house rules a reader relies on (docs/STYLE.md, "What our own house taught us"), read from
the source itself so that a copy or a hidden dependency cannot creep back unnoticed.

- Roles are compared, and views name the roles they allow, as `Role` members, never as
  strings: a typo in a string ("complaince") is a rule that silently matches nobody, where a
  typo in a member fails on import.
- The integrity package and the checklist use cases import at the top of the file: an import
  inside a function hides a dependency (or a cycle) a reader of the imports would not see.
- "Which clinics, sessions, patients may this user read" is a scope in auth/policy.py: no
  other module picks a query condition by a policy answer (`true() if policy.can_review(u)
  else Clinic.id == ...`) or compares a column with `policy.working_clinic_id(...)` itself.
- A flag's severity and status are `Severity` and `FlagStatus` members (checklists/rules.py)
  wherever code writes one: no module spells "critical" or "resolved" again.
- A role's name ("Compliance officer", "a compliance officer") is written once, on the
  `Role` enum (auth/models.py): the administration pages and the invitation mail read it there.
- Templates ask the access policy, never compare ids or roles themselves (`s.practitioner_id
  == current_user.id`, `user.role == 'practitioner'`): the route passes the policy's answer.
- A route lets the service decide who may change an object: the checklist's phase view asks
  no owner predicate itself (the service it calls refuses), it maps the refusal to a page.
- A view reads the database only through a service: no module of views (`@bp.` routes)
  runs a query itself, so what a page may show is decided where the policy is applied.
- Every feature's rules.py (and the FHIR mapping, the rules of that folder) is pure: neither it
  nor any module of the package it imports reaches Flask or SQLAlchemy, so it is unit-tested
  without an app.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import safety
from safety.auth.models import Role
from safety.checklists.rules import FlagStatus, Severity

PACKAGE = Path(safety.__file__).parent
SOURCES = sorted(PACKAGE.rglob("*.py"))
#: The pure modules: every feature's rules, the FHIR mapping and the template editor's rules.
PURE = sorted(PACKAGE.glob("*/rules.py")) + sorted((PACKAGE / "review" / "rules").glob("*.py"))
PURE += [PACKAGE / "fhir" / "mapping.py", PACKAGE / "risks" / "editing.py"]
#: What a pure module must not reach.
FRAMEWORKS = {"flask", "flask_babel", "flask_login", "flask_wtf", "sqlalchemy", "werkzeug"}
#: Modules that must import only at the top (issue 12, item 2).
TOP_IMPORTS_ONLY = sorted((PACKAGE / "integrity").glob("*.py")) + [
    PACKAGE / "checklists" / "services.py",
    PACKAGE / "checklists" / "addenda.py",
]


def relative(path: Path) -> str:
    return str(path.relative_to(PACKAGE.parent))


def parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text("utf-8"), filename=str(path))


def is_role(node: ast.expr) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "role"


def is_text(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return any(is_text(element) for element in node.elts)
    return False


def role_string_comparisons(tree: ast.Module) -> list[int]:
    """Return the line of every comparison of a `.role` with a string literal."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(is_role(side) for side in sides) and any(is_text(side) for side in sides):
                found.append(node.lineno)
    return found


def roles_required_as_strings(tree: ast.Module) -> list[int]:
    """Return the line of every `role_required(...)` given a role as a string."""
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and getattr(node.func, "id", getattr(node.func, "attr", None)) == "role_required"
        and any(is_text(arg) for arg in node.args)
    ]


def calls_policy(node: ast.AST, name: str | None = None) -> bool:
    """Return whether a node calls `policy.<name>` (any name if None) anywhere inside."""
    return any(
        isinstance(inner, ast.Call)
        and isinstance(inner.func, ast.Attribute)
        and isinstance(inner.func.value, ast.Name)
        and inner.func.value.id == "policy"
        and (name is None or inner.func.attr == name)
        for inner in ast.walk(node)
    )


def is_condition(node: ast.expr) -> bool:
    """Return whether an expression reads as a query condition (a comparison, true(), false())."""
    if isinstance(node, ast.Compare):
        return True
    return isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("true", "false")


def hand_built_scopes(tree: ast.Module) -> list[int]:
    """Return the line of every query condition chosen or built from a policy answer."""

    def chosen(node: ast.AST) -> bool:
        return (
            isinstance(node, ast.IfExp)
            and calls_policy(node.test)
            and any(is_condition(branch) for branch in (node.body, node.orelse))
        )

    def built(node: ast.AST) -> bool:
        return isinstance(node, ast.Compare) and any(
            calls_policy(side, "working_clinic_id") for side in (node.left, *node.comparators)
        )

    return [node.lineno for node in ast.walk(tree) if chosen(node) or built(node)]


#: The flag words an enum spells once; "open" is left out, a word too common to mean a status.
FLAG_WORDS = {*Severity, *FlagStatus} - {FlagStatus.OPEN}
ENUMS_HOME = PACKAGE / "checklists" / "rules.py"


def flag_words_spelled(tree: ast.Module) -> list[int]:
    """Return the line of every string literal that is a flag's severity or status."""
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        if node.value in FLAG_WORDS
    ]


#: Each role's names, which only the Role enum's module spells.
ROLE_NAMES = {role.label for role in Role} | {role.noun for role in Role}
ROLES_HOME = PACKAGE / "auth" / "models.py"
#: The same words meaning something else: the CSV's column and the record filter name a
#: person, not a role.
ROLE_NAMES_ELSEWHERE = {
    ("safety/review/rules/export.py", "Practitioner"),
    ("safety/review/rules/records.py", "Practitioner"),
}


def role_names_spelled(path: Path) -> list[int]:
    """Return the line of every string literal that is a role's name."""
    return [
        node.lineno
        for node in ast.walk(parsed(path))
        if isinstance(node, ast.Constant) and node.value in ROLE_NAMES
        if (relative(path), node.value) not in ROLE_NAMES_ELSEWHERE
    ]


TEMPLATES = sorted((PACKAGE.parent / "templates").rglob("*.html"))
#: An access rule written in a template: an id compared with the signed-in user's, a role
#: compared with a string.
ACCESS_IN_TEMPLATE = re.compile(
    r"[=!]=\s*current_user\.id\b|current_user\.id\s*[=!]=|\.role\s*[=!]="
)


def access_rules_in(path: Path) -> list[int]:
    """Return the line of every access rule a template writes itself."""
    lines = path.read_text("utf-8").splitlines()
    return [number for number, line in enumerate(lines, 1) if ACCESS_IN_TEMPLATE.search(line)]


#: Views whose service decides who may act (issue 12: "a route that repeats a service's owner
#: check"), as (module, function).
SERVICE_DECIDES = [
    (PACKAGE / "checklists" / "routes.py", "phase"),
    (PACKAGE / "checklists" / "routes.py", "_save_phase"),
]


def policy_calls_in(path: Path, function: str) -> list[str]:
    """Return the policy predicates a module's function calls."""
    [found] = [
        node
        for node in ast.walk(parsed(path))
        if isinstance(node, ast.FunctionDef) and node.name == function
    ]
    return [
        inner.func.attr
        for inner in ast.walk(found)
        if isinstance(inner, ast.Call)
        and isinstance(inner.func, ast.Attribute)
        and isinstance(inner.func.value, ast.Name)
        and inner.func.value.id == "policy"
    ]


def module_path(name: str) -> Path | None:
    """Return the file of a module of the package, or None for anything else.

    The package itself is not followed: its `__init__` is the app factory, which importing
    any module runs, and the check is about what a module depends on by name.
    """
    if not name.startswith("safety."):
        return None
    base = PACKAGE.parent.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def imported(path: Path) -> set[str]:
    """Return the modules a file imports: `from a import b` names both a and a.b."""
    names = set()
    for node in ast.walk(parsed(path)):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def frameworks_reached(path: Path) -> dict[str, str]:
    """Return each framework a module reaches, with the package module that imports it."""
    seen, todo, reached = {path}, [path], {}
    while todo:
        current = todo.pop()
        for name in imported(current):
            if name.split(".")[0] in FRAMEWORKS:
                reached.setdefault(name.split(".")[0], relative(current))
            found = module_path(name)
            if found is not None and found not in seen:
                seen.add(found)
                todo.append(found)
    return reached


def imports_inside_functions(tree: ast.Module) -> list[int]:
    """Return the line of every import statement inside a function body."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Import | ast.ImportFrom):
                    found.append(inner.lineno)
    return found


#: The modules of views: every file that declares a route on a blueprint.
VIEWS = [path for path in SOURCES if "@bp." in path.read_text("utf-8")]
#: What a query through the database session is called.
READS = {"scalars", "scalar", "execute", "get", "query"}


def database_reads(tree: ast.Module) -> list[int]:
    """Lines that query the database directly: `db.session.scalars(...)`, `db.select(...)`."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        owner = node.func.value
        through_session = (
            node.func.attr in READS
            and isinstance(owner, ast.Attribute)
            and owner.attr == "session"
            and isinstance(owner.value, ast.Name)
            and owner.value.id == "db"
        )
        through_db = node.func.attr == "select" and isinstance(owner, ast.Name) and owner.id == "db"
        if through_session or through_db:
            found.append(node.lineno)
    return sorted(found)


def test_the_checks_see_the_package():
    assert PACKAGE / "auth" / "policy.py" in SOURCES
    assert len(TOP_IMPORTS_ONLY) > 5
    assert PACKAGE / "admin" / "editor.py" in VIEWS and len(VIEWS) >= 12


def test_the_checks_catch_what_they_look_for():
    sample = ast.parse(
        "from safety.auth.models import Role\n"
        "def f(user, User):\n"
        "    from safety import models\n"
        "    return (user.role == 'admin', 'compliance' != User.role,\n"
        "            user.role in ('admin', 'practitioner'), user.role == Role.ADMIN)\n"
        "@role_required('admin')\n"
        "@policy.role_required(Role.ADMIN, 'compliance')\n"
        "@role_required(Role.PRACTITIONER)\n"
        "def view(): ...\n"
    )

    assert role_string_comparisons(sample) == [4, 4, 5]
    assert roles_required_as_strings(sample) == [6, 7]
    assert imports_inside_functions(sample) == [3]
    scopes = ast.parse(
        "def f(actor):\n"
        "    a = true() if policy.can_review(actor) else Clinic.id == 1\n"
        "    b = Clinic.id == policy.working_clinic_id(actor)\n"
        "    c = db.scalar(q) if policy.is_practitioner(actor) else None\n"
        "    return a, b, c, policy.clinic_scope(actor), 1 if actor else 2\n"
    )
    assert hand_built_scopes(scopes) == [2, 3]
    reads = ast.parse(
        "def view():\n"
        "    a = db.session.scalars(q).all()\n"
        "    b = db.session.get(User, 1)\n"
        "    c = db.select(Clinic)\n"
        "    db.session.commit()\n"
        "    return services.list_patients(current_user), request.args.get('q')\n"
    )
    assert database_reads(reads) == [2, 3, 4]


@pytest.mark.parametrize("path", SOURCES, ids=relative)
def test_no_module_compares_a_role_with_a_string(path):
    assert role_string_comparisons(parsed(path)) == [], relative(path)


@pytest.mark.parametrize("path", SOURCES, ids=relative)
def test_every_view_names_its_roles_as_role_members(path):
    assert roles_required_as_strings(parsed(path)) == [], relative(path)


@pytest.mark.parametrize(
    "path", [p for p in SOURCES if p != PACKAGE / "auth" / "policy.py"], ids=relative
)
def test_no_module_outside_the_policy_builds_a_scope_by_hand(path):
    assert hand_built_scopes(parsed(path)) == [], relative(path)


def test_the_flag_word_check_finds_a_severity_spelled_as_a_string():
    sample = ast.parse('SEVERITY = {"emergency": "critical"}\nx = Severity.HIGH\n"Resolved"\n')

    assert flag_words_spelled(sample) == [1]
    assert flag_words_spelled(parsed(ENUMS_HOME)) != []


@pytest.mark.parametrize("path", [p for p in SOURCES if p != ENUMS_HOME], ids=relative)
def test_severities_and_flag_statuses_are_written_as_their_enums(path):
    assert flag_words_spelled(parsed(path)) == [], relative(path)


def test_every_role_has_its_names_beside_it():
    assert {role: role.noun for role in Role}[Role.ADMIN] == "an administrator"
    assert all(role.label and role.noun for role in Role)
    assert role_names_spelled(ROLES_HOME) != []


@pytest.mark.parametrize("path", [p for p in SOURCES if p != ROLES_HOME], ids=relative)
def test_a_roles_name_is_written_only_beside_the_role(path):
    assert role_names_spelled(path) == [], relative(path)


def test_the_template_check_finds_an_access_rule(tmp_path):
    page = tmp_path / "page.html"
    page.write_text(
        "{% if s.practitioner_id == current_user.id %}\n{{ current_user.id }}\n"
        "{% if user.role == 'practitioner' %}\n{% if u.id != current_user.id %}\n"
    )

    assert access_rules_in(page) == [1, 3, 4]
    assert len(TEMPLATES) > 20


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_no_template_writes_an_access_rule_itself(path):
    assert access_rules_in(path) == [], str(path)


@pytest.mark.parametrize(("path", "function"), SERVICE_DECIDES, ids=lambda v: str(v))
def test_a_view_whose_service_refuses_asks_no_owner_predicate_itself(path, function):
    assert policy_calls_in(path, function) == [], f"{relative(path)}: {function}"


def test_the_owner_check_search_finds_a_policy_call():
    assert "can_fill" in policy_calls_in(PACKAGE / "checklists" / "routes.py", "record")


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_no_template_builds_a_dict_of_labels(path):
    """Labels live once on the rules objects, said by one display helper (`error_labels`)."""
    text = path.read_text("utf-8")
    assert not re.search(r"\{%-?\s*set\s+labels\b|labels\.update\(", text), str(path)


def test_the_purity_check_follows_imports_through_the_package():
    # safety/models.py imports no framework itself, only every feature's models.
    assert "sqlalchemy" not in imported(PACKAGE / "models.py")
    assert frameworks_reached(PACKAGE / "models.py")["sqlalchemy"].endswith("models.py")
    assert frameworks_reached(PACKAGE / "hashing.py") == {}


@pytest.mark.parametrize("path", PURE, ids=relative)
def test_a_rules_module_reaches_neither_flask_nor_sqlalchemy(path):
    assert frameworks_reached(path) == {}, relative(path)


@pytest.mark.parametrize("path", TOP_IMPORTS_ONLY, ids=relative)
def test_integrity_and_the_checklist_use_cases_import_only_at_the_top(path):
    assert imports_inside_functions(parsed(path)) == [], relative(path)


@pytest.mark.parametrize("path", VIEWS, ids=relative)
def test_a_view_reads_the_database_only_through_a_service(path):
    assert database_reads(parsed(path)) == [], relative(path)
