"""Password hashing (bcrypt, what the SigmaSight API verifies at login) and id generation."""

from __future__ import annotations

import hashlib
import uuid

import bcrypt


def hash_password(password: str, rounds: int = 12) -> str:
    """bcrypt hash (`$2b$…`) of a password of at most 72 bytes."""
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=rounds)).decode()


def verify_password(password: str, hashed: str) -> bool:
    try:
        return bcrypt.checkpw(password.encode(), hashed.encode())
    except ValueError:
        return False


def deterministic_uuid(seed: str) -> uuid.UUID:
    """Development ids as in the runbook: UUID(md5(seed)), e.g. seed = f"{email}_user"."""
    return uuid.UUID(hashlib.md5(seed.encode()).hexdigest())


def new_id(seed: str, production: bool) -> uuid.UUID:
    """Random uuid4 in production, `deterministic_uuid(seed)` in development."""
    return uuid.uuid4() if production else deterministic_uuid(seed)
