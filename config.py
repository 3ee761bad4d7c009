"""Configuration classes, one per environment, read from the environment.

`create_app()` picks one by the NEEDLESAFE_ENV variable (development, testing, production).
Production has no fallback secret and no fallback database: it refuses to start instead.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = Path(os.environ.get("NEEDLESAFE_INSTANCE", BASE_DIR / "instance"))


def _flag(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _roles(name: str, default: str) -> frozenset[str]:
    """Read a comma list of roles; an unknown role stops start-up rather than protect nobody."""
    value = os.environ.get(name, default)
    roles = frozenset(part.strip().lower() for part in value.split(",") if part.strip())
    unknown = roles - {"practitioner", "compliance", "admin"}
    if unknown:
        raise ConfigurationError(
            f"{name} names unknown roles: {', '.join(sorted(unknown))}. "
            "Use practitioner, compliance and admin."
        )
    return roles


class ConfigurationError(RuntimeError):
    """Raised when an environment lacks a setting it cannot safely run without."""


class Config:
    """Settings shared by every environment."""

    ENV_NAME = "base"
    SECRET_KEY: str | None = os.environ.get("SECRET_KEY")
    SQLALCHEMY_DATABASE_URI: str | None = os.environ.get("DATABASE_URL")
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}

    SESSION_COOKIE_NAME = "needlesafe_session"
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = _flag("SESSION_COOKIE_SECURE")
    #: The browser cookie never outlives the server-side absolute lifetime.
    PERMANENT_SESSION_LIFETIME = timedelta(hours=12)
    SESSION_IDLE_TIMEOUT = timedelta(minutes=30)
    SESSION_ABSOLUTE_LIFETIME = timedelta(hours=12)

    LOGIN_MAX_FAILURES = int(os.environ.get("LOGIN_MAX_FAILURES", "5"))
    LOGIN_LOCKOUT = timedelta(minutes=int(os.environ.get("LOGIN_LOCKOUT_MINUTES", "15")))
    LOGIN_RATE_LIMIT = os.environ.get("LOGIN_RATE_LIMIT", "10 per minute")
    #: Sign-in throttling per (account, client): failures before the first wait, the first wait
    #: (doubling after each further failure, up to LOGIN_LOCKOUT), and the failures allowed to
    #: every client without the account's device cookie together before they wait too.
    LOGIN_THROTTLE_FIRST = timedelta(
        seconds=int(os.environ.get("LOGIN_THROTTLE_FIRST_SECONDS", "30"))
    )
    LOGIN_UNTRUSTED_MAX_FAILURES = int(os.environ.get("LOGIN_UNTRUSTED_MAX_FAILURES", "20"))
    #: How long a browser that signed in keeps its own sign-in allowance (the device cookie).
    DEVICE_COOKIE_DAYS = int(os.environ.get("DEVICE_COOKIE_DAYS", "180"))
    #: Reverse proxies in front of the app that add X-Forwarded-For / -Proto (0: none, the
    #: client address is the connection's). Rate limits, throttling and audit use the result.
    TRUSTED_PROXY_HOPS = int(os.environ.get("TRUSTED_PROXY_HOPS", "0"))
    #: How long an invitation link works.
    INVITATION_HOURS = int(os.environ.get("INVITATION_HOURS", "72"))
    #: Roles that must sign in with a second factor (an authenticator app); any account may.
    MFA_REQUIRED_ROLES: frozenset[str] = frozenset()
    #: Key for the TOTP secrets at rest; unset, one is derived from SECRET_KEY (so changing
    #: SECRET_KEY then means everyone enrols again).
    MFA_ENCRYPTION_KEY = os.environ.get("MFA_ENCRYPTION_KEY")
    #: The issuer name authenticator apps show beside the account.
    MFA_ISSUER = os.environ.get("MFA_ISSUER", "NeedleSafe")

    RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI") or os.environ.get(
        "REDIS_URL", "memory://"
    )
    RATELIMIT_HEADERS_ENABLED = True

    WTF_CSRF_TIME_LIMIT = 8 * 3600
    #: argon2id cost, chosen on purpose: the minimum of OWASP's Password Storage Cheat Sheet
    #: (m=19 MiB, t=2, p=1; README "Password checks"). About 32 ms of one core per check here,
    #: where the library default (64 MiB, t=3, p=4) took 180 ms of CPU per sign-in and signature.
    #: A stored hash with other parameters is rehashed at its owner's next sign-in.
    ARGON2_TIME_COST = int(os.environ.get("ARGON2_TIME_COST", "2"))
    ARGON2_MEMORY_COST = int(os.environ.get("ARGON2_MEMORY_KIB", "19456"))
    ARGON2_PARALLELISM = int(os.environ.get("ARGON2_PARALLELISM", "1"))
    DEMO_MODE = False

    #: Follow-up delivery: smtp, outbox (development: messages readable in the app) or sms-http.
    REMINDER_BACKEND = os.environ.get("REMINDER_BACKEND", "smtp")
    MAIL_SERVER = os.environ.get("MAIL_SERVER", "localhost")
    MAIL_PORT = int(os.environ.get("MAIL_PORT", "25"))
    MAIL_USE_TLS = _flag("MAIL_USE_TLS")
    MAIL_USE_SSL = _flag("MAIL_USE_SSL")
    MAIL_USERNAME = os.environ.get("MAIL_USERNAME")
    MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD")
    MAIL_DEFAULT_SENDER = os.environ.get("MAIL_DEFAULT_SENDER", "NeedleSafe <no-reply@localhost>")
    SMS_GATEWAY_URL = os.environ.get("SMS_GATEWAY_URL")
    SMS_GATEWAY_TOKEN = os.environ.get("SMS_GATEWAY_TOKEN")
    #: Public address used in links sent to patients and practitioners.
    BASE_URL = os.environ.get("BASE_URL", "http://127.0.0.1:5000")
    #: How long a worker holds a claimed reminder before another may take it.
    REMINDER_LEASE_SECONDS = int(os.environ.get("REMINDER_LEASE_SECONDS", "120"))
    #: How long one pass of the worker (`reminders work --once`) may keep sending before it
    #: stops; under a minute so a cron run each minute rarely overlaps the next.
    REMINDER_WORK_BUDGET_SECONDS = float(os.environ.get("REMINDER_WORK_BUDGET_SECONDS", "50"))
    PATIENT_FORM_RATE_LIMIT = os.environ.get("PATIENT_FORM_RATE_LIMIT", "30 per minute")
    #: How often the "Verify now" page reloads itself while a verification waits or runs (at
    #: least every second: 0 would reload it without pause).
    VERIFY_PAGE_REFRESH_SECONDS = max(1, int(os.environ.get("VERIFY_PAGE_REFRESH_SECONDS", "5")))

    #: How old the dashboard's session counts and monthly charts may be, per app process; the
    #: page says when they were counted. 0 counts them for every request.
    DASHBOARD_CACHE_SECONDS = float(os.environ.get("DASHBOARD_CACHE_SECONDS", "60"))

    #: PostgreSQL in production: `flask db upgrade` connects as this owner role and grants the
    #: application's role (DATABASE_URL's user) only what it needs (safety/dbroles.py).
    MIGRATION_DATABASE_URL = os.environ.get("MIGRATION_DATABASE_URL")

    #: Evidence kept outside the database (DESIGN §5): the Ed25519 key that signs audit
    #: checkpoints, the key verify trusts, and the append-only store of signed checkpoints.
    AUDIT_SIGNING_KEY_FILE = os.environ.get("AUDIT_SIGNING_KEY_FILE")
    AUDIT_PUBLIC_KEY_FILE = os.environ.get("AUDIT_PUBLIC_KEY_FILE")
    AUDIT_CHECKPOINT_DIR = os.environ.get("AUDIT_CHECKPOINT_DIR")
    AUDIT_CHECKPOINT_MINUTES = int(os.environ.get("AUDIT_CHECKPOINT_MINUTES", "15"))
    #: Development may make a signing key on first use; production must be given one.
    AUDIT_CREATE_KEY = False

    @classmethod
    def check(cls) -> None:
        """Refuse to run without the settings this environment needs."""


class DevelopmentConfig(Config):
    """A developer's machine: embedded SQLite in instance/, demo accounts allowed."""

    ENV_NAME = "development"
    DEMO_MODE = True
    #: Empty by default, so the demo stays two commands; set it to try the second factor.
    MFA_REQUIRED_ROLES = _roles("MFA_REQUIRED_ROLES", "")
    AUDIT_SIGNING_KEY_FILE = Config.AUDIT_SIGNING_KEY_FILE or str(
        INSTANCE_DIR / "audit-signing.key"
    )
    AUDIT_CHECKPOINT_DIR = Config.AUDIT_CHECKPOINT_DIR or str(INSTANCE_DIR / "checkpoints")
    AUDIT_CREATE_KEY = True
    REMINDER_BACKEND = os.environ.get("REMINDER_BACKEND", "outbox")
    SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL") or (
        f"sqlite:///{INSTANCE_DIR / 'needlesafe.db'}"
    )

    @classmethod
    def check(cls) -> None:
        if not cls.SECRET_KEY:
            cls.SECRET_KEY = _instance_secret()


class TestingConfig(Config):
    """The test suite: CSRF stays on, hashing is cheap, the database comes from the fixture."""

    ENV_NAME = "testing"
    TESTING = True
    DEMO_MODE = True
    REMINDER_BACKEND = "outbox"
    BASE_URL = "http://localhost"
    SECRET_KEY = "testing-secret-key-not-for-production"
    SQLALCHEMY_DATABASE_URI = os.environ.get("TEST_DATABASE_URL") or "sqlite://"
    RATELIMIT_STORAGE_URI = "memory://"
    ARGON2_TIME_COST = 1
    ARGON2_MEMORY_COST = 1024
    #: Tests change data between two looks at the dashboard; the one test of the cache sets it.
    DASHBOARD_CACHE_SECONDS = 0.0
    #: The fixtures give each test its own key and checkpoint store under a temporary folder.
    AUDIT_CREATE_KEY = True


class ProductionConfig(Config):
    """Production: PostgreSQL through DATABASE_URL, a real secret, secure cookies."""

    ENV_NAME = "production"
    MFA_REQUIRED_ROLES = _roles("MFA_REQUIRED_ROLES", "compliance,admin")
    SESSION_COOKIE_SECURE = _flag("SESSION_COOKIE_SECURE", default=True)

    @classmethod
    def check(cls) -> None:
        missing = [name for name in ("SECRET_KEY", "DATABASE_URL") if not os.environ.get(name)]
        if missing:
            raise ConfigurationError(
                "Production refuses to start without "
                + " and ".join(missing)
                + ". Set them in the environment (or NEEDLESAFE_ENV=development for local work)."
            )
        if len(os.environ["SECRET_KEY"]) < 32:
            raise ConfigurationError("SECRET_KEY must be at least 32 characters of random data.")
        if not (
            os.environ.get("AUDIT_SIGNING_KEY_FILE") or os.environ.get("AUDIT_PUBLIC_KEY_FILE")
        ):
            raise ConfigurationError(
                "Production refuses to start without the audit key: AUDIT_SIGNING_KEY_FILE where "
                "the reminder worker runs (it signs the checkpoints), AUDIT_PUBLIC_KEY_FILE on "
                "the web servers. `flask audit create-key PATH` makes one (see README)."
            )
        if not os.environ.get("AUDIT_CHECKPOINT_DIR"):
            raise ConfigurationError(
                "Production refuses to start without AUDIT_CHECKPOINT_DIR: the append-only "
                "store of signed checkpoints, on storage the database administrators cannot "
                "rewrite."
            )
        cls.AUDIT_SIGNING_KEY_FILE = os.environ.get("AUDIT_SIGNING_KEY_FILE")
        cls.AUDIT_PUBLIC_KEY_FILE = os.environ.get("AUDIT_PUBLIC_KEY_FILE")
        cls.AUDIT_CHECKPOINT_DIR = os.environ["AUDIT_CHECKPOINT_DIR"]
        # Read at start-up, not at import, so the settings checked are the settings used.
        cls.SECRET_KEY = os.environ["SECRET_KEY"]
        cls.SQLALCHEMY_DATABASE_URI = os.environ["DATABASE_URL"]


def _instance_secret() -> str:
    """Return a per-checkout development secret, made once, so restarts keep users signed in."""
    path = INSTANCE_DIR / "dev-secret-key"
    if not path.exists():
        INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


CONFIGS: dict[str, type[Config]] = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def config_for(name: str | None) -> type[Config]:
    """Return the config class for an environment name (production when unset)."""
    key = (name or os.environ.get("NEEDLESAFE_ENV") or "production").strip().lower()
    try:
        return CONFIGS[key]
    except KeyError:
        raise ConfigurationError(
            f"Unknown NEEDLESAFE_ENV {key!r}: use one of {', '.join(CONFIGS)}."
        ) from None
