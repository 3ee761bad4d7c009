"""The template editor's routes, on the administration blueprint (administrators only).

A published version is never edited: "Edit a copy" starts a draft from it. Each edit is a
POST with CSRF that names one item, calls one use case of risks.editor and comes back to the
editor at that item; a refusal shows the editor again with the reason and changes nothing.
Publishing goes through a confirmation page that says what changes and for which clinics.
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from safety.admin.forms import ActionForm, EditItemForm, MoveForm, OwnItemForm, RewordForm
from safety.admin.routes import bp
from safety.auth.models import Role
from safety.auth.policy import role_required
from safety.clinics import services as clinics
from safety.languages import N_
from safety.risks import editor, services
from safety.web import Refused, field_errors, run_use_case

#: What the editor says after each kind of edit.
DONE = {
    "add": N_("Item added to the draft."),
    "new": N_(
        "Your item was added to the draft. It needs a translation before French and "
        "Spanish readers see it in their language."
    ),
    "remove": N_("Item removed from the draft."),
    "reword": N_(
        "Item reworded: its linkId and answers stay the same, and its old words are "
        "kept in its history."
    ),
    "move": N_("Item moved."),
}


@bp.post("/templates/<id:template_id>/copy")
@role_required(Role.ADMIN)
def template_copy(template_id: int):
    form = ActionForm()
    if not form.validate_on_submit():
        return redirect(url_for("admin.template_review", template_id=template_id))
    draft = run_use_case(lambda: editor.copy_version(template_id, actor=current_user))
    if isinstance(draft, Refused):
        flash(draft.message, "error")
        return redirect(url_for("admin.template_review", template_id=template_id))
    flash(
        _(
            "Draft version %(version)s is a copy of version %(source)s. Edit it, preview it, "
            "then publish it.",
            version=draft.version,
            source=draft.definition["copied_from"],
        ),
        "success",
    )
    return redirect(url_for("admin.template_edit", template_id=draft.id))


@bp.get("/templates/<id:template_id>/edit")
@role_required(Role.ADMIN)
def template_edit(template_id: int):
    if services.get_template(template_id).is_published:
        return redirect(url_for("admin.template_review", template_id=template_id))
    return _editor_page(template_id)


def _editor_page(
    template_id: int,
    *,
    refused: Refused | None = None,
    form: str | None = None,
    values: dict | None = None,
):
    """The editor, with a refused edit's message and what was typed into the refused form."""
    return render_template(
        "admin/template_edit.html",
        view=editor.editor_view(template_id),
        error=refused.message if refused else None,
        errors=refused.errors if refused else {},
        failed=form,
        values=values or {},
    ), (refused.status if refused else 200)


def _edit(template_id: int, form, kind: str, call: Callable[[], object], *, item: str = ""):
    """Run one edit of the draft and come back to the editor at the item it changed."""
    if not form.validate_on_submit():
        errors = field_errors(form)
        refused = Refused(
            next(iter(errors.values()), _("This form has expired. Try again.")), errors
        )
        return _editor_page(template_id, refused=refused, form=kind, values=form.data)
    done = run_use_case(call, shown=(400, 409))
    if isinstance(done, Refused) and done.status == 409:
        # Published since the page was opened (by another administrator, or in another tab).
        flash(done.message, "error")
        return redirect(url_for("admin.template_review", template_id=template_id))
    if isinstance(done, Refused):
        return _editor_page(template_id, refused=done, form=kind, values=form.data)
    flash(_(DONE[kind]), "success")
    anchor = f"item-{done}" if kind == "new" else (f"item-{item}" if kind != "remove" else None)
    return redirect(url_for("admin.template_edit", template_id=template_id, _anchor=anchor))


@bp.post("/templates/<id:template_id>/edit/add")
@role_required(Role.ADMIN)
def template_add_item(template_id: int):
    form = EditItemForm()
    link_id = (form.item.data or "").strip()
    return _edit(
        template_id,
        form,
        "add",
        lambda: editor.add_from_register(template_id, link_id, actor=current_user),
        item=link_id,
    )


@bp.post("/templates/<id:template_id>/edit/new")
@role_required(Role.ADMIN)
def template_new_item(template_id: int):
    form = OwnItemForm()
    return _edit(
        template_id,
        form,
        "new",
        lambda: editor.add_own_item(
            template_id,
            phase_id=(form.phase.data or "").strip(),
            text=form.text.data or "",
            reason=form.reason.data or "",
            actor=current_user,
        ),
    )


@bp.post("/templates/<id:template_id>/edit/remove")
@role_required(Role.ADMIN)
def template_remove_item(template_id: int):
    form = EditItemForm()
    link_id = (form.item.data or "").strip()
    return _edit(
        template_id,
        form,
        "remove",
        lambda: editor.remove_item(template_id, link_id, actor=current_user),
        item=link_id,
    )


@bp.post("/templates/<id:template_id>/edit/reword")
@role_required(Role.ADMIN)
def template_reword_item(template_id: int):
    form = RewordForm()
    link_id = (form.item.data or "").strip()
    return _edit(
        template_id,
        form,
        "reword",
        lambda: editor.reword_item(template_id, link_id, form.text.data or "", actor=current_user),
        item=link_id,
    )


@bp.post("/templates/<id:template_id>/edit/move")
@role_required(Role.ADMIN)
def template_move_item(template_id: int):
    form = MoveForm()
    link_id = (form.item.data or "").strip()
    return _edit(
        template_id,
        form,
        "move",
        lambda: editor.move_item(
            template_id, link_id, (form.direction.data or "").strip(), actor=current_user
        ),
        item=link_id,
    )


@bp.get("/templates/<id:template_id>/preview")
@role_required(Role.ADMIN)
def template_preview(template_id: int):
    view = editor.editor_view(template_id)
    # The items' own partial reads the session's record: a made-up patient stands in for it.
    record = SimpleNamespace(
        # The administrator's own day (the server's clock may be in another zone).
        session_date=clinics.reader_now(current_user).date(),
        patient=SimpleNamespace(
            display_name=_("Example patient"),
            is_followup_consent=True,
            opted_out_dt=None,
            email="patient@example.com",
            phone="+44 7700 900123",
        ),
    )
    return render_template(
        "admin/template_preview.html",
        view=view,
        state=SimpleNamespace(template=view.template),
        record=record,
        values={},
        errors={},
        expired_pack="",
    )


@bp.get("/templates/<id:template_id>/publish")
@role_required(Role.ADMIN)
def template_confirm(template_id: int):
    if services.get_template(template_id).is_published:
        return redirect(url_for("admin.template_review", template_id=template_id))
    return render_template(
        "admin/template_confirm.html", preview=editor.publish_preview(template_id)
    )
