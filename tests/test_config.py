"""--config TOML: flags override the environment, which overrides the file; --kinds."""

from __future__ import annotations

import pytest

from engine.config import KINDS, ConfigError, parse_kinds
from engine.telegram.targets import SECRET_CHATS
from tests._export import CHANNEL_DIR, env_for, served, tgarc


@pytest.mark.parametrize("value, want", [
    (None, ("channel", "group", "user", "bot")), ("", ("channel", "group", "user", "bot")),
    ("channels", ("channel",)), (" groups , users ", ("group", "user")),
    ("bots,bots", ("bot",)),
])
def test_kinds_parse(value, want):
    assert parse_kinds(value) == want


@pytest.mark.parametrize("value", ["secret", "secrets", "channels,secret", "Secrets"])
def test_secret_kinds_say_why_they_cannot_be_exported(value):
    with pytest.raises(ConfigError) as exc:
        parse_kinds(value)
    bad = next(x for x in value.split(",") if x.lower().startswith("secret"))
    assert str(exc.value) == (f"--kinds {bad}: {SECRET_CHATS} (choose from "
                              f"{', '.join(KINDS)})")


@pytest.mark.parametrize("value", ["chanels", "channels,everything", ",", "channel"])
def test_unknown_kinds_are_input_errors(value):
    with pytest.raises(ConfigError, match="unknown kind"):
        parse_kinds(value)


def test_config_file_supplies_defaults_and_flags_win(tmp_path):
    out = tmp_path / "out"
    cfg = tmp_path / "tgarc.toml"
    cfg.write_text(f'out = "{out}"\nformat = ["jsonl"]\ntz = "UTC"\nworkers = 1\n'
                   f'session = "{tmp_path / "never-used.session"}"\n')
    with served(60) as dc:
        # the file names a session file, but TGARC_SESSION (environment) wins over it
        r = tgarc(dc, tmp_path / "ignored", "--quiet", "--config", str(cfg))
        assert r.returncode == 0, r.stderr
        assert not (tmp_path / "never-used.session").exists()
        # --out on the command line wins over the file's out
        assert (tmp_path / "ignored" / CHANNEL_DIR / "messages.jsonl").exists()
        assert not (tmp_path / "ignored" / CHANNEL_DIR / "result.json").exists()
        r = tgarc(dc, tmp_path / "ignored", "--quiet", "--config", str(cfg), "--format", "json")
        assert r.returncode == 0, r.stderr
        assert (tmp_path / "ignored" / CHANNEL_DIR / "result.json").exists()
        # without TGARC_SESSION the file's session is used (not there: exit 2, and neither
        # an empty session file nor the --out folder is created)
        env = env_for(dc)
        del env["TGARC_SESSION"]
        r = tgarc(dc, tmp_path / "x", "--quiet", "--config", str(cfg), env=env)
        assert r.returncode == 2 and "no session file at" in r.stderr
        assert not (tmp_path / "never-used.session").exists() and not (tmp_path / "x").exists()


def test_malformed_config_is_one_line_exit_2_and_writes_nothing(tmp_path):
    cases = {"broken.toml": ('out = "x\n', "is not valid TOML"),
             "unknown.toml": ('out = "x"\ncolour = "blue"\n', "unknown setting 'colour'"),
             "types.toml": ("workers = true\n", "workers = True has the wrong type")}
    with served(20) as dc:
        for name, (text, says) in cases.items():
            (tmp_path / name).write_text(text)
            r = tgarc(dc, tmp_path / "out", "--quiet", "--config", str(tmp_path / name))
            assert r.returncode == 2, r.stderr
            lines = r.stderr.strip().splitlines()
            assert len(lines) == 1 and says in lines[0], r.stderr
        r = tgarc(dc, tmp_path / "out", "--quiet", "--config", str(tmp_path / "missing.toml"))
        assert r.returncode == 2 and "no file at" in r.stderr
    assert not (tmp_path / "out").exists()
