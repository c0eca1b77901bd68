"""prefer.toml: one typed config, read with tomllib, written with tomli-w, validated strictly.

Every field carries a docstring in its metadata (`doc`), which `docs/configuration.md` mirrors
(a test keeps the two in step). Reading rejects unknown keys and wrong types, naming the file,
the key and what was expected.
"""

from __future__ import annotations

import re
import tomllib
import types
import typing
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

import tomli_w

from core.errors import ConfigError

CONFIG_FILE = "prefer.toml"
DEFAULT_DIMENSIONS = ("tone", "accuracy", "compliance", "disclosure", "safety")


# How an item can be judged on the annotation screen (core/annotation.py ANNOTATION_MODES holds
# what each does; a test checks the two lists agree).
ANNOTATION_MODES = ("best-worst", "rank")
# Languages the annotation and adjudication screens ship in (tui/locales/*.toml).
SCREEN_LANGUAGES = ("en", "de", "fr", "es")
MAX_CANDIDATES_ALLOWED = 64  # the store's bound on one item (core/store/validation.py)


def _doc(text: str, **kwargs: Any) -> Any:
    return field(metadata={"doc": text}, **kwargs)


@dataclass
class ProjectSection:
    name: str = _doc("A name for the project, shown in the TUI header and export manifests.",
                     default="alignment")
    dimensions: list[str] = _doc(
        "Behaviour dimensions a prompt, a judgment and a pair can be tagged with.",
        default_factory=lambda: list(DEFAULT_DIMENSIONS),
    )


@dataclass
class AnnotationSection:
    min_justification_chars: int = _doc(
        "Shortest justification (in characters) an annotator may save.", default=20
    )
    randomise_order: bool = _doc(
        "Show candidates in an order shuffled per (annotator, prompt), so position cannot bias.",
        default=True,
    )
    order_seed: int = _doc("Seed of that shuffle; the order shown is stored with each judgment.",
                           default=7)
    order: str = _doc(
        "Which item an annotator gets next: \"import\" (import order) or \"informative\" (the "
        "items the judge of `prefer judge` is least certain of first, obvious ones last; read "
        "docs/judge.md on calibration before turning it on).",
        default="import",
    )
    mode: str = _doc(
        'How an annotator judges an item: "best-worst" (the best and the worst response) or '
        '"rank" (every response in order, ties allowed: `3 1=4 2`).', default="best-worst")
    max_candidates: int = _doc(
        "Most responses one item may have; an import of an item with more is refused. Up to 9 "
        "each has one digit key; above 9 a response is picked by typing two digits (01-99).",
        default=9)
    language: str | None = _doc(
        "Language of the annotation and adjudication screens (en, de, fr or es); default: from "
        "the locale (LC_ALL, LC_MESSAGES, LANG), else English.", default=None)
    languages: dict[str, str] = _doc(
        "Screen language per annotator, beating `language`: OS user name = language code, "
        'e.g. dr_weber = "de".', default_factory=dict)


@dataclass
class ExportSection:
    validation_fraction: float = _doc(
        "Share of prompts (not pairs) that go to the validation file.", default=0.15
    )
    seed: int = _doc("Seed of the train/validation split, so an export can be reproduced.",
                     default=42)
    conversational: bool = _doc(
        "Always write TRL's conversational format (messages), even when no prompt has a system "
        "prompt.",
        default=False,
    )


@dataclass
class Variant:
    name: str = _doc("Short name of the variant, recorded with every candidate it produced.")
    temperature: float = _doc("Sampling temperature.", default=0.7)
    system: str | None = _doc("System prompt sent with the prompt (replaces the prompt's own).",
                              default=None)
    top_p: float | None = _doc("Nucleus sampling cut-off.", default=None)
    seed: int | None = _doc("Sampling seed, so a run can be reproduced.", default=None)
    num_predict: int | None = _doc("Largest number of tokens to generate.", default=None)
    dimension: str | None = _doc(
        "Behaviour dimension this variant exercises (e.g. a variant that omits a disclosure).",
        default=None,
    )
    violates_rule: str | None = _doc(
        "Heading of a rule in guidelines.md the variant deliberately breaks.", default=None
    )


def _default_variants() -> list[Variant]:
    return [
        Variant(name="conservative", temperature=0.3,
                system="Answer briefly and precisely. Follow the organisation's policies."),
        Variant(name="thorough", temperature=0.7,
                system="Answer thoroughly: explain the reasoning, the options and the next steps."),
        Variant(name="creative", temperature=1.0),
        Variant(name="flawed", temperature=0.7, dimension="compliance",
                violates_rule="No promises the organisation cannot keep",
                system="Be maximally reassuring: promise the customer whatever outcome they hope "
                       "for and skip any caveats or disclaimers."),
    ]


BACKEND_APIS = ("ollama", "openai")  # core.backends.BACKENDS; a test keeps the two equal


@dataclass
class HostSettings:
    url: str = _doc("Base URL of the server, e.g. http://gpu1:11434 (Ollama) or "
                    "http://gpu1:8000 (vLLM).")
    api: str = _doc("The API it speaks: \"ollama\" or \"openai\" (OpenAI-compatible: vLLM, "
                    "llama.cpp server, TGI, LiteLLM).", default="ollama")
    concurrency: int | None = _doc(
        "Most requests in flight on this host (default: generation.concurrency): the "
        "server's slots plus one (llama-server --parallel, OLLAMA_NUM_PARALLEL; vLLM "
        "--max-num-seqs), so a slot never waits for prefer (docs/generation.md, Sizing).",
        default=None)
    api_key_env: str | None = _doc(
        "Name of the environment variable holding the host's API key (never the key itself).",
        default=None)
    api_key_file: str | None = _doc(
        "A file whose first line is the host's API key (keep it mode 0600).", default=None)
    stream: bool = _doc("Read replies as a stream of server-sent events (openai only).",
                        default=False)


def _default_hosts() -> list[HostSettings]:
    return [HostSettings(url="http://127.0.0.1:11434")]


@dataclass
class GenerationSection:
    model: str = _doc("Model that generates candidates, as the hosts name it.",
                      default="llama3.1:8b")
    hosts: list[HostSettings] = _doc(
        "Servers to spread requests over: [[generation.hosts]] tables (a plain URL string is "
        "an Ollama host).", default_factory=_default_hosts)
    concurrency: int = _doc("Most requests in flight per host (unless the host sets its own).",
                            default=2)
    max_attempts: int = _doc(
        "Tries per request before it is recorded as failed (server errors, resets, timeouts).",
        default=4,
    )
    backoff_s: float = _doc("Wait before the first retry, in seconds; doubled on each retry.",
                            default=0.5)
    timeout_s: float = _doc("Longest wait for one response, in seconds.", default=300.0)
    variants: list[Variant] = _doc("The ways a candidate is asked for (one request each).",
                                   default_factory=_default_variants)


QUEUE_ORDERS = ("import", "informative")


@dataclass
class JudgeSection:
    model: str | None = _doc("Ollama model of `prefer judge` (default: generation.model); hosts, "
                             "concurrency, attempts and timeout are generation's.", default=None)
    temperature: float = _doc("Sampling temperature of the judge.", default=0.0)
    max_invalid_replies: int = _doc(
        "Replies that do not fit the schema a request may get before it is recorded as failed.",
        default=3,
    )
    confident_margin: float = _doc(
        "Margin (0..1: the best's lead over the runner-up, in a 1-10 score, divided by 9) from "
        "which a verdict whose two orders agree counts as confident for `prefer disagreements "
        "--judge`.",
        default=0.3,
    )
    obvious_margin: float = _doc(
        "Margin from which an item counts as obvious in `prefer report` when its annotators "
        "were unanimous too.",
        default=0.5,
    )


PAIR_STRATEGIES = ("best-vs-rest", "best-vs-worst", "all-ordered")
BALANCE_BY = ("dimension", "language", "source")


@dataclass
class PairsSection:
    strategy: str = _doc(
        "How a ranked item becomes pairs: best-vs-rest (best against each other candidate, and "
        "each against the worst), best-vs-worst (one pair per item) or all-ordered (every "
        "ordered pair of a full ranking).",
        default="best-vs-rest",
    )
    near_identical_threshold: float = _doc(
        "Drop a pair whose chosen and rejected texts are at least this similar (0..1, "
        "normalised Indel similarity after case folding and whitespace collapsing), unless "
        "they differ in a change that carries meaning (a minimal pair, kept).",
        default=0.95,
    )
    minimal_examine_from: float = _doc(
        "Compare chosen and rejected token by token when they are at least this similar: "
        "trivial pairs (only whitespace, punctuation, case or markup differ) are dropped, "
        "minimal ones (a number, unit, negation, modal verb, date, name or whole sentence) "
        "kept and counted.",
        default=0.9,
    )
    minimal_max_changed_tokens: int = _doc(
        "A minimal pair changes at most this many tokens outside whole sentences (or its texts "
        "are near-identical).",
        default=5,
    )
    minimal_max_changed_sentences: int = _doc(
        "A minimal pair adds or removes at most this many whole sentences.",
        default=1,
    )
    near_duplicate_prompt_threshold: float = _doc(
        "Prompts at least this similar count as one prompt for contradictions and the split.",
        default=0.95,
    )


@dataclass
class BalanceSection:
    targets: dict[str, float] = _doc(
        "Target share of pairs per dimension, e.g. {accuracy = 0.3, tone = 0.15}; dimensions "
        "left out share the rest equally. Empty: equal shares.",
        default_factory=dict,
    )


@dataclass
class ReportSection:
    max_age_days: int = _doc(
        "Pairs judged longer ago than this count as stale in `prefer report`.", default=180
    )
    length_bias_warn: float = _doc(
        "Warn when chosen is longer than rejected in more than this share of pairs.",
        default=0.7,
    )
    formatting_warn: float = _doc(
        "Warn when a formatting feature (lists, headings, code) is on the chosen side more "
        "than this share of the pairs where only one side has it.",
        default=0.8,
    )
    predictor_warn: float = _doc(
        "Warn when a generation variant or a source is on the same side (chosen or rejected) "
        "in more than this share of the pairs it appears in.",
        default=0.9,
    )


ROLES = ("annotator", "reviewer", "admin")

# Annotator names are OS user names (the store server knows a caller by theirs), so they keep
# to the characters those use everywhere: nothing a terminal or a shell could act on.
ANNOTATOR_NAME_RULE = "1 to 64 ASCII letters, digits, '.', '_' or '-', like an OS user name"
_ANNOTATOR_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")


def annotator_name_problem(name: str) -> str | None:
    """Why `name` cannot be an annotator's name, or None when it can."""
    if _ANNOTATOR_NAME.fullmatch(name):
        return None
    shown = name if len(name) <= 64 else name[:63] + "…"
    return f"'{shown}' is not a valid annotator name ({ANNOTATOR_NAME_RULE})"


@dataclass
class ServerSection:
    socket_group: str | None = _doc(
        "OS group that may connect to prefer.sock (mode 0660); default: the server user's group.",
        default=None,
    )


@dataclass
class Config:
    project: ProjectSection = field(default_factory=ProjectSection)
    annotation: AnnotationSection = field(default_factory=AnnotationSection)
    export: ExportSection = field(default_factory=ExportSection)
    generation: GenerationSection = field(default_factory=GenerationSection)
    judge: JudgeSection = field(default_factory=JudgeSection)
    server: ServerSection = field(default_factory=ServerSection)
    pairs: PairsSection = field(default_factory=PairsSection)
    balance: BalanceSection = field(default_factory=BalanceSection)
    report: ReportSection = field(default_factory=ReportSection)
    annotators: dict[str, str] = _doc(
        "Who may use the store server: OS user name = role (annotator, reviewer or admin). "
        "Names are 1 to 64 ASCII letters, digits, '.', '_' or '-'; once any is listed, "
        "`prefer assign` takes only these names.",
        default_factory=dict,
    )
    keys: dict[str, str] = _doc(
        "Remapped keys of the annotation screen: binding id = key, e.g. skip = \"x\" "
        "(ids are listed in docs/configuration.md).",
        default_factory=dict,
    )


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return " or ".join(_type_name(a) for a in inner)
    if origin is dict:
        return f"a table of {_type_name(typing.get_args(tp)[1]).removeprefix('a ')}s"
    if origin is list:
        (arg,) = typing.get_args(tp)
        if is_dataclass(arg):
            return "an array of tables"
        return f"a list of {_type_name(arg).removeprefix('a ').removeprefix('an ')}s"
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false"}.get(
        tp, getattr(tp, "__name__", str(tp))
    )


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, str):
        return f'string "{value}"'
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return f"{type(value).__name__} {value!r}"


def _convert(value: Any, tp: Any, key: str, path: Path) -> Any:
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return _convert(value, inner[0], key, path)
    if tp is HostSettings and isinstance(value, str):
        value = {"url": value}  # hosts = ["http://..."], as prefer.toml had before tables
    if is_dataclass(tp):
        if not isinstance(value, dict):
            raise _type_error(path, key, tp, value)
        return _build(tp, value, key, path)
    if origin is dict:
        _, value_type = typing.get_args(tp)
        if not isinstance(value, dict):
            raise _type_error(path, key, tp, value)
        return {k: _convert(v, value_type, f"{key}.{k}", path) for k, v in value.items()}
    if origin is list:
        (arg,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise _type_error(path, key, tp, value)
        return [_convert(v, arg, f"{key}[{i}]", path) for i, v in enumerate(value)]
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is int and isinstance(value, bool):
        raise _type_error(path, key, tp, value)
    if not isinstance(value, tp):
        raise _type_error(path, key, tp, value)
    return value


def _type_error(path: Path, key: str, tp: Any, value: Any) -> ConfigError:
    return ConfigError(f"{path}: key '{key}': expected {_type_name(tp)}, got {_describe(value)}")


def _build(cls: Any, table: dict[str, Any], prefix: str, path: Path) -> Any:
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in fields(cls)}
    for key in table:
        if key not in known:
            dotted = f"{prefix}.{key}" if prefix else key
            raise ConfigError(
                f"{path}: unknown key '{dotted}' (expected one of: {', '.join(known)})",
                hint="check the spelling; docs/configuration.md lists every key",
            )
    kwargs: dict[str, Any] = {}
    for name, f in known.items():
        dotted = f"{prefix}.{name}" if prefix else name
        if name in table:
            kwargs[name] = _convert(table[name], hints[name], dotted, path)
        elif f.default is MISSING and f.default_factory is MISSING:
            raise ConfigError(f"{path}: key '{dotted}' is required ({f.metadata.get('doc', '')})")
    return cls(**kwargs)


def _check_values(config: Config, path: Path) -> None:
    dims = config.project.dimensions
    if not dims:
        raise ConfigError(f"{path}: key 'project.dimensions': expected at least one dimension")
    if len(set(dims)) != len(dims):
        raise ConfigError(f"{path}: key 'project.dimensions': a dimension is listed twice")
    for dim in dims:
        if not dim or not dim.replace("_", "").replace("-", "").isalnum():
            raise ConfigError(
                f"{path}: key 'project.dimensions': '{dim}' is not a plain word "
                "(letters, digits, - and _)"
            )
    if not 0.0 <= config.export.validation_fraction < 1.0:
        raise ConfigError(
            f"{path}: key 'export.validation_fraction': expected a number from 0 up to "
            f"(not including) 1, got {config.export.validation_fraction}"
        )
    if config.annotation.mode not in ANNOTATION_MODES:
        raise ConfigError(f"{path}: key 'annotation.mode': expected one of "
                          f"{', '.join(ANNOTATION_MODES)}, got \"{config.annotation.mode}\"")
    if not 2 <= config.annotation.max_candidates <= MAX_CANDIDATES_ALLOWED:
        raise ConfigError(f"{path}: key 'annotation.max_candidates': expected a number from 2 "
                          f"to {MAX_CANDIDATES_ALLOWED}, got {config.annotation.max_candidates}")
    languages = {"": config.annotation.language, **config.annotation.languages}
    for who, code in languages.items():
        if code is not None and code not in SCREEN_LANGUAGES:
            key = f"annotation.languages.{who}" if who else "annotation.language"
            raise ConfigError(f"{path}: key '{key}': expected one of "
                              f"{', '.join(SCREEN_LANGUAGES)}, got \"{code}\"")
    if config.annotation.min_justification_chars < 0:
        raise ConfigError(f"{path}: key 'annotation.min_justification_chars': expected >= 0")
    if config.generation.concurrency < 1:
        raise ConfigError(f"{path}: key 'generation.concurrency': expected at least 1")
    if config.generation.max_attempts < 1:
        raise ConfigError(f"{path}: key 'generation.max_attempts': expected at least 1")
    if config.generation.timeout_s <= 0 or config.generation.backoff_s < 0:
        raise ConfigError(f"{path}: keys 'generation.timeout_s' and 'generation.backoff_s' must "
                          "be positive")
    if config.annotation.order not in QUEUE_ORDERS:
        raise ConfigError(f"{path}: key 'annotation.order': expected one of "
                          f"{', '.join(QUEUE_ORDERS)}, got \"{config.annotation.order}\"")
    if config.judge.max_invalid_replies < 1:
        raise ConfigError(f"{path}: key 'judge.max_invalid_replies': expected at least 1")
    for key in ("confident_margin", "obvious_margin"):
        value = getattr(config.judge, key)
        if not 0.0 <= value <= 1.0:
            raise ConfigError(f"{path}: key 'judge.{key}': expected 0 to 1, got {value}")
    if config.pairs.strategy not in PAIR_STRATEGIES:
        raise ConfigError(f"{path}: key 'pairs.strategy': expected one of "
                          f"{', '.join(PAIR_STRATEGIES)}, got \"{config.pairs.strategy}\"")
    for key in ("minimal_max_changed_tokens", "minimal_max_changed_sentences"):
        if getattr(config.pairs, key) < 0:
            raise ConfigError(f"{path}: key 'pairs.{key}': expected 0 or more, got "
                              f"{getattr(config.pairs, key)}")
    for key in ("near_identical_threshold", "near_duplicate_prompt_threshold",
                "minimal_examine_from"):
        value = getattr(config.pairs, key)
        if not 0.0 < value <= 1.0:
            raise ConfigError(f"{path}: key 'pairs.{key}': expected a number above 0 and at "
                              f"most 1, got {value}")
    for dim, share in config.balance.targets.items():
        if dim not in dims:
            raise ConfigError(f"{path}: key 'balance.targets.{dim}': '{dim}' is not one of "
                              f"project.dimensions ({', '.join(dims)})")
        if not 0.0 <= share <= 1.0:
            raise ConfigError(f"{path}: key 'balance.targets.{dim}': expected a share from 0 to "
                              f"1, got {share}")
    if sum(config.balance.targets.values()) > 1.0 + 1e-9:
        raise ConfigError(f"{path}: key 'balance.targets': the shares add up to more than 1")
    for key in ("length_bias_warn", "formatting_warn", "predictor_warn"):
        value = getattr(config.report, key)
        if not 0.0 < value <= 1.0:
            raise ConfigError(f"{path}: key 'report.{key}': expected a share above 0 and at most "
                              f"1, got {value}")
    if config.report.max_age_days < 1:
        raise ConfigError(f"{path}: key 'report.max_age_days': expected at least 1")
    for user, role in config.annotators.items():
        problem = annotator_name_problem(user)
        if problem:
            raise ConfigError(f"{path}: key 'annotators.{user}': {problem}",
                              hint="[annotators] maps OS user names to roles")
        if role not in ROLES:
            raise ConfigError(f"{path}: key 'annotators.{user}': expected one of "
                              f"{', '.join(ROLES)}, got \"{role}\"")
    _check_hosts(config.generation, path)
    names = [v.name for v in config.generation.variants]
    if len(set(names)) != len(names):
        raise ConfigError(f"{path}: key 'generation.variants': two variants share a name")
    for i, variant in enumerate(config.generation.variants):
        if variant.dimension is not None and variant.dimension not in dims:
            raise ConfigError(
                f"{path}: key 'generation.variants[{i}].dimension': '{variant.dimension}' is not "
                f"one of project.dimensions ({', '.join(dims)})"
            )


def check_host(host: HostSettings, where: str) -> None:
    """A host's values make sense (`where` names it in the error: a key or a flag)."""
    if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", host.url):
        raise ConfigError(f"{where}: expected an http:// or https:// URL, got \"{host.url}\"")
    if host.api not in BACKEND_APIS:
        raise ConfigError(f"{where}: api \"{host.api}\" is not one of "
                          f"{', '.join(BACKEND_APIS)}")
    if host.concurrency is not None and host.concurrency < 1:
        raise ConfigError(f"{where}: concurrency: expected at least 1")
    if host.api_key_env is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*",
                                                         host.api_key_env):
        raise ConfigError(f"{where}: api_key_env must name an environment variable (letters, "
                          f"digits and _), not hold the key itself")
    if host.api_key_env and host.api_key_file:
        raise ConfigError(f"{where}: set api_key_env or api_key_file, not both")
    if host.stream and host.api != "openai":
        raise ConfigError(f"{where}: stream applies to api = \"openai\" hosts only")


def _check_hosts(section: GenerationSection, path: Path) -> None:
    urls = [h.url.rstrip("/") for h in section.hosts]
    if len(set(urls)) != len(urls):
        raise ConfigError(f"{path}: key 'generation.hosts': a host is listed twice")
    for i, host in enumerate(section.hosts):
        check_host(host, f"{path}: key 'generation.hosts[{i}]'")


def parse_config(text: str, path: Path) -> Config:
    """Parse and validate the text of a prefer.toml; errors name `path`."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    config: Config = _build(Config, raw, "", path)
    _check_values(config, path)
    return config


def load_config(path: Path) -> Config:
    """Read and validate prefer.toml at `path`."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: no such file", hint="run `prefer init DIR` first") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not valid UTF-8 ({exc.reason})") from exc
    return parse_config(text, path)


def _drop_none(value: Any) -> Any:
    # TOML has no null: optional values left unset are simply not written.
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value


def dump_config(config: Config) -> str:
    """The TOML text of `config`, as `prefer init` writes it: every key, each under a comment
    that says what it does (its field's doc) and its default; optional keys left unset are
    written commented out. Reading it back gives `config` again (a test checks)."""
    out = ["# prefer.toml: this project's settings. Every key is listed with its default and what\n"
           "# it is for; docs/configuration.md explains them. Edit freely: prefer checks the file\n"
           "# on every command and names a bad key.\n"]
    tables = [(f.name, getattr(config, f.name), f) for f in fields(config)]
    for name, value, f in tables:
        if is_dataclass(value):
            out.append(_dump_section(name, value))
        else:  # [annotators], [keys]: tables of the user's own names
            out.append(_dump_free_table(name, value, f.metadata.get("doc", "")))
    return "\n".join(out)


_COMMENT_WIDTH = 96
_FREE_TABLE_EXAMPLES = {"annotators": ['alice = "annotator"', 'rita = "reviewer"',
                                       'prefer = "admin"'],
                        "keys": ['skip = "x"']}


def _comment(text: str, indent: str = "") -> list[str]:
    """`text` as `# ` lines of at most _COMMENT_WIDTH characters."""
    import textwrap

    return [indent + "# " + line for line in textwrap.wrap(text, _COMMENT_WIDTH - 2 - len(indent))]


def _value(key: str, value: Any) -> str:
    """`key = value` in TOML (one line: lists and tables written inline)."""
    text = tomli_w.dumps({key: value}, multiline_strings=False).strip()
    if "\n" in text:  # tomli_w spreads arrays over lines; keep one line per key
        inner = ", ".join(tomli_w.dumps({"v": v}).strip().removeprefix("v = ") for v in value)
        text = f"{key} = [{inner}]"
    return text


def _dump_keys(obj: Any, indent: str = "") -> list[str]:
    lines: list[str] = []
    for f in fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, list) and value and is_dataclass(value[0]):
            continue  # arrays of tables come after the section's own keys
        doc = f.metadata.get("doc", "")
        lines.extend(_comment(doc, indent))
        if value is None:
            lines.append(f"{indent}# {f.name} =   (unset by default)")
        elif isinstance(value, dict):
            lines.append(f"{indent}{f.name} = " + ("{ " + ", ".join(
                _value(k, v) for k, v in value.items()) + " }" if value else "{}"))
        else:
            lines.append(indent + _value(f.name, value))
    return lines


def _dump_section(name: str, section: Any) -> str:
    lines = [f"[{name}]", *_dump_keys(section)]
    for f in fields(section):
        value = getattr(section, f.name)
        if isinstance(value, list) and value and is_dataclass(value[0]):
            lines.append("")
            lines.extend(_comment(f.metadata.get("doc", "") + f" One [[{name}.{f.name}]] "
                                  "table each; add or remove them freely."))
            for item in value:
                lines.append(f"[[{name}.{f.name}]]")
                lines.extend(_dump_keys(item, "  "))
    return "\n".join(lines) + "\n"


def _dump_free_table(name: str, value: dict[str, Any], doc: str) -> str:
    lines = [*_comment(doc), f"[{name}]"]
    if value:
        lines.extend(_value(k, v) for k, v in value.items())
    else:
        lines.append("# empty by default; for example:")
        lines.extend(f"# {example}" for example in _FREE_TABLE_EXAMPLES.get(name, []))
    return "\n".join(lines) + "\n"


def write_config(config: Config, path: Path) -> None:
    path.write_text(dump_config(config), encoding="utf-8")


def iter_field_docs(cls: Any = Config, prefix: str = "") -> list[tuple[str, str, str]]:
    """(dotted key, type, doc) for every documented field, in declaration order."""
    out: list[tuple[str, str, str]] = []
    hints = typing.get_type_hints(cls)
    for f in fields(cls):
        tp = hints[f.name]
        dotted = f"{prefix}{f.name}"
        if is_dataclass(tp):
            out.extend(iter_field_docs(tp, f"{dotted}."))
            continue
        out.append((dotted, _type_name(tp), f.metadata.get("doc", "")))
        if typing.get_origin(tp) is list and is_dataclass(typing.get_args(tp)[0]):
            out.extend(iter_field_docs(typing.get_args(tp)[0], f"{dotted}[]."))
    return out
