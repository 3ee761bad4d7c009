"""Patient form: the CSRF token only; `rules.read_form` reads the answers."""

from flask_wtf import FlaskForm


class PatientForm(FlaskForm):
    """CSRF only."""
