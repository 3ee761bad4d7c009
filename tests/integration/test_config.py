"""Production configuration: no fallback secret, no fallback database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import config
from config import ConfigurationError
from safety import create_app
from safety.extensions import db

REAL_SECRET = "a3f1c9e07b5d42e8916f0c2ab7d4e5f6a3f1c9e07b5d42e8"


@pytest.fixture
def bare_environment(monkeypatch):
    """An environment with neither SECRET_KEY nor DATABASE_URL set."""
    for name in (
        "SECRET_KEY",
        "DATABASE_URL",
        "NEEDLESAFE_ENV",
        "AUDIT_SIGNING_KEY_FILE",
        "AUDIT_PUBLIC_KEY_FILE",
        "AUDIT_CHECKPOINT_DIR",
    ):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_production_refuses_to_start_without_secret_key_and_database_url(bare_environment):
    with pytest.raises(ConfigurationError) as refused:
        create_app("production")

    message = str(refused.value)
    assert "Production refuses to start without SECRET_KEY and DATABASE_URL" in message


def test_production_refuses_to_start_without_secret_key(bare_environment, tmp_path):
    bare_environment.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'prod.db'}")

    with pytest.raises(ConfigurationError, match="without SECRET_KEY") as refused:
        create_app("production")

    assert "DATABASE_URL" not in str(refused.value).split(".")[0]


def test_production_refuses_to_start_without_database_url(bare_environment):
    bare_environment.setenv("SECRET_KEY", REAL_SECRET)

    with pytest.raises(ConfigurationError, match="without DATABASE_URL"):
        create_app("production")


def test_production_refuses_a_short_secret_key(bare_environment, tmp_path):
    bare_environment.setenv("SECRET_KEY", "changeme")
    bare_environment.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'prod.db'}")

    with pytest.raises(ConfigurationError, match="SECRET_KEY must be at least 32 characters"):
        create_app("production")


def test_an_app_created_without_naming_an_environment_is_held_to_production_rules(
    bare_environment,
):
    with pytest.raises(ConfigurationError, match="Production refuses to start"):
        create_app()


def test_an_unknown_environment_name_is_refused_with_the_choices(bare_environment):
    with pytest.raises(ConfigurationError, match="development, testing, production"):
        create_app("staging")


def test_production_starts_with_a_real_secret_and_a_database_and_allows_no_demo(
    bare_environment, tmp_path
):
    url = f"sqlite:///{tmp_path / 'prod.db'}"
    bare_environment.setenv("SECRET_KEY", REAL_SECRET)
    bare_environment.setenv("DATABASE_URL", url)
    # The class read DATABASE_URL when config.py was imported, before this test set it.
    bare_environment.setattr(config.ProductionConfig, "SQLALCHEMY_DATABASE_URI", url)
    bare_environment.setattr(config.ProductionConfig, "SECRET_KEY", REAL_SECRET)
    bare_environment.setenv("AUDIT_PUBLIC_KEY_FILE", str(tmp_path / "audit.pub"))
    bare_environment.setenv("AUDIT_CHECKPOINT_DIR", str(tmp_path / "checkpoints"))

    app = create_app("production")
    with app.app_context():
        assert app.config["SECRET_KEY"] == REAL_SECRET
        assert app.config["DEMO_MODE"] is False
        assert app.config["SESSION_COOKIE_SECURE"] is True
        assert app.config["AUDIT_CREATE_KEY"] is False
        assert app.config["AUDIT_CHECKPOINT_DIR"] == str(tmp_path / "checkpoints")
        db.engine.dispose()


@pytest.mark.parametrize(
    ("given", "named"),
    [
        ({"AUDIT_CHECKPOINT_DIR": "/srv/checkpoints"}, "the audit key"),
        ({"AUDIT_SIGNING_KEY_FILE": "/srv/audit.key"}, "AUDIT_CHECKPOINT_DIR"),
    ],
)
def test_production_refuses_to_start_without_the_audit_key_or_the_checkpoint_store(
    bare_environment, tmp_path, given, named
):
    bare_environment.setenv("SECRET_KEY", REAL_SECRET)
    bare_environment.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'prod.db'}")
    for name, value in given.items():
        bare_environment.setenv(name, value)

    with pytest.raises(ConfigurationError, match=named):
        create_app("production")


def test_a_refused_production_start_says_why_in_one_line_without_a_traceback():
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DATABASE_URL"}}
    env["NEEDLESAFE_ENV"] = "production"
    started = subprocess.run(
        [sys.executable, "-c", "import wsgi"],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert started.returncode == 1
    assert "Traceback" not in started.stderr
    assert started.stderr.strip() == (
        "NeedleSafe did not start: Production refuses to start without SECRET_KEY and "
        "DATABASE_URL. Set them in the environment (or NEEDLESAFE_ENV=development for local work)."
    )


def test_passwords_are_hashed_with_owasps_argon2id_parameters_unless_configured_otherwise(
    monkeypatch,
):
    """OWASP Password Storage Cheat Sheet, argon2id: m=19 MiB (19456 KiB), t=2, p=1."""
    for name in ("ARGON2_TIME_COST", "ARGON2_MEMORY_KIB", "ARGON2_PARALLELISM"):
        monkeypatch.delenv(name, raising=False)
    script = (
        "import config; c = config.ProductionConfig; "
        "print(c.ARGON2_TIME_COST, c.ARGON2_MEMORY_COST, c.ARGON2_PARALLELISM)"
    )
    root = Path(__file__).resolve().parents[2]

    def read(**env: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", script],
            cwd=root,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=60,
        )
        return done.stdout.strip()

    assert read() == "2 19456 1"
    assert read(ARGON2_TIME_COST="3", ARGON2_MEMORY_KIB="47104") == "3 47104 1"
