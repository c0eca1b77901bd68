"""`prefer generate` and `prefer runs`: candidates from LLM servers (Ollama, OpenAI-compatible)."""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import asdict
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from core.backends import BACKENDS
from core.config import GenerationSection, HostSettings, check_host
from core.errors import EXIT_FAILED, BadInputError
from core.generate import RunProgress, plan_generation, run_generation, shown_status
from core.heap import set_survivors_aside
from core.text import printable
from tui.commands.common import (
    JsonOption,
    ProjectOption,
    os_user,
    project_store,
    reports_errors,
    stderr,
    stdout,
)


def hosts_for(settings: GenerationSection, urls: list[str] | None, api: str,
              api_key_env: str | None, concurrency: int | None) -> list[HostSettings]:
    """The hosts of a run: each --host (with --api and --api-key-env), else prefer.toml's;
    --concurrency, when given, for every host."""
    if not urls:
        if api_key_env is not None:
            raise BadInputError("--api-key-env applies to the --host servers: pass --host too",
                                hint="or set api_key_env in the [[generation.hosts]] tables")
        hosts = list(settings.hosts)
    else:
        hosts = [HostSettings(url=url, api=api, api_key_env=api_key_env) for url in urls]
        for url, host in zip(urls, hosts, strict=True):
            check_host(host, f"--host {url}")
    if concurrency is not None:
        hosts = [dataclasses.replace(h, concurrency=concurrency) for h in hosts]
    return hosts


# The servers of a run, shared by every command that talks to LLM hosts (generate, judge).
HostOption = Annotated[list[str] | None, typer.Option(
    "--host", help="Server URL; repeat for several (default: [[generation.hosts]]).")]
ApiOption = Annotated[str, typer.Option(
    "--api", help=f"API the --host servers speak: {' or '.join(BACKENDS)}.")]
ApiKeyEnvOption = Annotated[str | None, typer.Option(
    "--api-key-env", help="Environment variable holding the --host servers' API key.")]


@reports_errors
def generate(
    project: ProjectOption = None,
    model: Annotated[str | None, typer.Option(help="Model, as the hosts name it (default: "
                                                   "generation.model in prefer.toml).")] = None,
    host: HostOption = None,
    api: ApiOption = "ollama",
    api_key_env: ApiKeyEnvOption = None,
    concurrency: Annotated[int | None, typer.Option(
        help="Most requests in flight per host (default: each host's concurrency, else "
             "generation.concurrency). Best at the server's slots plus one.")] = None,
    variants: Annotated[str | None, typer.Option(
        help="Comma-separated variant names from prefer.toml (default: all).")] = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N prompts.", min=1)] = None,
    force: Annotated[bool, typer.Option("--force", help="Generate again what was already "
                                        "generated with this model.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be requested; "
                                          "contact no server.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    json_output: JsonOption = False,
) -> None:
    """Generate candidate responses for every prompt, one per variant, through LLM servers.

    Each variant in prefer.toml ([[generation.variants]]) sets a temperature and a system
    prompt; a deliberately flawed one makes good "rejected" examples. Hosts speak Ollama's API
    or the OpenAI-compatible one (vLLM, llama.cpp server, TGI, LiteLLM) and share one queue.
    Re-running skips what is done, so an interrupted run just continues. Every request is
    recorded: model and digest, host and backend, options, system prompt, token counts,
    durations. Exit code 1 when any request failed.

    **Examples**

    ```
      prefer generate -p ./alignment
      prefer generate --model qwen2.5:7b --host http://gpu1:11434 --host http://gpu2:11434 --concurrency 4
      prefer generate --model Qwen/Qwen2.5-7B --host http://vllm:8000 --api openai --api-key-env KEY
      prefer generate --variants conservative,flawed --limit 100 --dry-run
    ```
    """
    with project_store(project) as (proj, store):
        settings = proj.config.generation
        chosen_model = model or settings.model
        hosts = hosts_for(settings, host, api, api_key_env, concurrency)
        per_host = concurrency or settings.concurrency
        names = [n.strip() for n in variants.split(",") if n.strip()] if variants else None
        plan = plan_generation(store, proj.config, proj.guidelines_text(), model=chosen_model,
                               variant_names=names, limit=limit, force=force)
        if dry_run:
            summary = {"model": chosen_model, "concurrency": per_host,
                       "hosts": [{"url": h.url, "api": h.api,
                                  "concurrency": h.concurrency or per_host} for h in hosts],
                       "prompts": plan.prompts, "variants": [v.name for v in plan.variants],
                       "requests": len(plan.jobs), "skipped_already_done": plan.skipped}
            if json_output:
                stdout.print_json(json.dumps(summary))
            else:
                stdout.print(printable(
                    f"Would request {len(plan.jobs)} candidates from {chosen_model}: "
                    f"{plan.prompts} prompts x {len(plan.variants)} variants "
                    f"({', '.join(v.name for v in plan.variants)}), "
                    f"{plan.skipped} already done; on "
                    + ", ".join(f"{h.url} ({h.api}, {h.concurrency or per_host} at a time)"
                                for h in hosts) + "."), markup=False)
            return
        if not plan.jobs:
            stdout.print(f"Nothing to generate: all {plan.skipped} (prompt, variant) "
                         f"combinations are done with {printable(chosen_model)}. --force "
                         "generates again.", markup=False)
            return
        bar = Progress(
            TextColumn("[bold]Generating[/]"), BarColumn(), MofNCompleteColumn(),
            TaskProgressColumn(), TextColumn("{task.fields[rate]}/s"),
            TextColumn("[red]{task.fields[failed]} failed[/]"), TimeElapsedColumn(),
            TextColumn("ETA"), TimeRemainingColumn(), console=stderr,
            disable=quiet or json_output or not stderr.is_terminal, transient=False,
        )
        with bar:
            task = bar.add_task("generate", total=len(plan.jobs), failed=0, rate="–")

            shown = [0.0]

            def show(progress: RunProgress) -> None:
                # At most ten redraws a second: a run may finish hundreds of requests a second.
                now = time.monotonic()
                if now - shown[0] < 0.1 and progress.finished < progress.planned:
                    return
                shown[0] = now
                elapsed = bar.tasks[task].elapsed or 0
                rate = f"{progress.finished / elapsed:.1f}" if elapsed > 0 else "–"
                bar.update(task, completed=progress.finished, failed=progress.failed, rate=rate)

            set_survivors_aside()  # the plan and all loaded outlive the run (core.heap)
            result = run_generation(
                store, plan, hosts=hosts, concurrency=settings.concurrency, actor=os_user(),
                max_attempts=settings.max_attempts, backoff_s=settings.backoff_s,
                timeout_s=settings.timeout_s, on_progress=show)
    run = result.run
    if json_output:
        stdout.print_json(json.dumps({
            "run_id": run.run_id, "model": run.model, "hosts": list(run.hosts),
            "succeeded": result.progress.succeeded, "failed": result.progress.failed,
            "skipped": plan.skipped, "retries": result.progress.retries,
            "errors": result.errors}))
    else:
        stdout.print(f"Run {run.run_id}: {result.progress.succeeded} succeeded, "
                     f"{result.progress.failed} failed, {plan.skipped} skipped (already done), "
                     f"{result.progress.retries} retries.", markup=False)
        for line in result.errors[:10]:
            stderr.print(f"  failed: {printable(line)}", markup=False)
        if len(result.errors) > 10:
            stderr.print(f"  … and {len(result.errors) - 10} more: `prefer runs` has them all")
    if result.progress.failed:
        raise typer.Exit(EXIT_FAILED)


@reports_errors
def runs(project: ProjectOption = None,
         limit: Annotated[int, typer.Option(help="How many of the newest runs.")] = 20,
         json_output: JsonOption = False) -> None:
    """List past generation runs: model, variants, counts, failures, time.

    **Examples**

    ```
      prefer runs -p ./alignment
      prefer runs --json
    ```
    """
    with project_store(project) as (_proj, store):
        found = store.runs(limit)
    if json_output:
        stdout.print_json(json.dumps([{**asdict(r), "status": shown_status(r),
                                       "started_at": r.started_at.isoformat(),
                                       "finished_at": r.finished_at.isoformat()
                                       if r.finished_at else None,
                                       "settings": json.loads(r.settings)} for r in found]))
        return
    if not found:
        stdout.print("No generation runs yet: `prefer generate` starts one.")
        return
    for r in found:
        took = (f" · took {(r.finished_at - r.started_at).total_seconds():.0f}s"
                if r.finished_at else "")
        stdout.print(Text.assemble(
            (r.run_id, "bold"), f"  {r.started_at:%Y-%m-%d %H:%M} UTC  {printable(r.model)}  ",
            (shown_status(r), "bold"), f"  by {printable(r.actor)}"))
        stdout.print(f"    {r.succeeded} ok · {r.failed} failed · {r.skipped} skipped of "
                     f"{r.planned + r.skipped}{took}")
        stdout.print(printable(f"    variants: {', '.join(r.variants)} · {r.concurrency} per "
                               f"host on {', '.join(r.hosts)}"), markup=False)
