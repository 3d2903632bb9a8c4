"""Node settings from the environment (prefix ``YKT_``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="YKT_", extra="ignore")

    data_dir: Path = Field(
        default=Path("var"), description="Where the embedded database and keys live"
    )
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: SQLite file data_dir/yikatong.db"
    )
    city_code: str = Field(
        default="370200", description="GB/T 2260 code of the city this node runs"
    )
    city_name: str = Field(default="青岛", description="Display name of the city")
    signature_algorithm: str = Field(default="SM2", description="SM2 (default) or Ed25519")
    qr_ttl_seconds: int = Field(default=60, ge=10, le=600)
    demo: bool = Field(default=False, description="Allow illustrative policy values (demo only)")
    sqlite_synchronous: Literal["FULL", "NORMAL"] = Field(
        default="FULL",
        description="SQLite only. FULL: a commit is on disk before it is acknowledged, power loss "
        "included. NORMAL: faster commits that survive a process crash but may lose the last "
        "ones on a power loss or an OS crash",
    )
    export_workers: int = Field(
        default=2,
        ge=0,
        le=16,
        description="Worker processes that write a long bank file (500,000 lines or more), at "
        "most one per core; 0: in the server's own process",
    )
    league_file: Path | None = Field(
        default=None, description="Signed league file (federation of cities); none: stand-alone"
    )

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'yikatong.db').as_posix()}"

    @property
    def calendar_dir(self) -> Path:
        """Holiday notices imported by the operator (``ykt calendar import``), one per year."""
        return self.data_dir / "calendar"

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
