"""``latentviz audit``: check a run's metrics against a policy; exit 0 (pass), 1 (a check failed), 2 (bad input)."""

from __future__ import annotations

import click


@click.command("audit")
@click.argument("run_path", metavar="RUN")
@click.option(
    "--policy",
    metavar="POLICY.yaml",
    help="The checks to run (default: the policy shipped with latentviz for the run's kind: "
    "VAE, autoencoder, embedding/features/imported or generator; latentviz/policies/default*.yaml).",
)
@click.option(
    "--baseline",
    metavar="RUN",
    help="Baseline run for checks with 'relative: true', and the reference of the drift checks "
    "(measured into RUN's drift.json when missing or measured against another run).",
)
@click.option(
    "--derive",
    "derive_out",
    metavar="OUT.yaml",
    help="Write a policy whose thresholds come from the --baseline run's values (± twice their spread "
    "over --repeats, else 5%), keeping the drift checks, for review; RUN is then audited against it.",
)
@click.option("--json", "json_out", metavar="OUT", help="Also write the results as JSON.")
@click.option("--junit", "junit_out", metavar="OUT", help="Also write the results as JUnit XML (for CI).")
def audit_command(run_path, policy, baseline, derive_out, json_out, junit_out):
    """Check RUN's metrics against POLICY and print one line per check.

    \b
    A policy is YAML:
      checks:
        - metric: active_units
          gte: 3
          description: at least three latent dimensions carry information
        - metric: trustworthiness
          gte: 0.9
          severity: warn
    Conditions: gt, gte, lt, lte, between: [lo, hi]; 'relative: true' scales the threshold
    by the --baseline run's value. A metric the run lacks is skipped, never passed.
    """
    from latentviz import audit
    from latentviz.errors import AuditFailed, InputError
    from latentviz.run import Run, write_bytes, write_json

    run = Run(run_path)
    policy_file = policy or audit.default_policy(audit.run_kind(run))
    rules = audit.load_policy(policy_file)
    applied = rules.name or str(policy_file)
    base = Run(baseline) if baseline else None
    if derive_out:
        if base is None:
            raise InputError("--derive: give --baseline RUN, the run whose values the thresholds come from")
        derived = audit.derive_policy(
            audit.run_values(base), policy=rules, name=f"derived from {base.path.resolve().name}"
        )
        write_derived(derive_out, derived, base)
        rules, policy_file = audit.load_policy(derive_out), derive_out
        applied = rules.name
        click.echo(
            f"audit: derived {len(rules.checks)} checks from {base.path} -> {derive_out} (review before committing it)"
        )
    if base is not None:
        audit.baseline_drift(run, base, rules)
    results = audit.evaluate(rules, audit.run_values(run, base), baseline=audit.run_values(base) if base else None)
    click.echo(audit.format_table(results))
    summary = audit.to_json(
        results,
        run=str(run.path),
        policy=str(policy_file),
        policy_name=applied,
        baseline=str(base.path) if base else None,
    )
    if json_out:
        write_json(json_out, summary)
    if junit_out:
        write_bytes(junit_out, audit.to_junit(results, run=str(run.path), policy=applied))
    tally = ", ".join(f"{n} {s}" for s, n in summary["counts"].items() if n)
    click.echo(f"audit: {summary['status']} ({tally}) under {applied}")
    code = audit.exit_code(results)
    if code == 1:
        raise AuditFailed(f"audit of {run.path}: {summary['counts']['fail']} failing check(s)")
    if code == 2:
        raise InputError(f"audit of {run.path}: {summary['counts']['error']} check(s) could not be evaluated")


def write_derived(path, policy: dict, base) -> None:
    """The derived policy as YAML, headed by where it came from."""
    import yaml

    from latentviz.run import write_bytes

    head = (
        f"# Derived by 'latentviz audit --derive' from the baseline run {base.path.resolve()}.\n"
        "# Each threshold is the baseline's value less a margin (see each description); review them before use.\n"
    )
    write_bytes(path, (head + yaml.safe_dump(policy, sort_keys=False, allow_unicode=True)).encode("utf-8"))
