"""Serve the jwstspec flow from a laptop: schedules without a worker or work pool.

    python deployments/serve.py --config my_program.toml --cron "0 3 * * *"

``flow.serve`` registers a deployment with the Prefect API the environment
points at (``prefect server start`` on loopback, see the README) and runs
its scheduled and UI-triggered runs in this process until you stop it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def build_deployment(config_path: str, cron: str | None, name: str):  # noqa: ANN201 - a RunnerDeployment
    """The deployment object that :func:`main` serves (also used by the tests)."""
    from flows.pipeline import jwstspec_pipeline
    from jwstspec.config import load_config

    config = load_config(config_path)
    return jwstspec_pipeline.to_deployment(
        name=name,
        cron=cron,
        parameters={"config": config.model_dump(mode="json")},
        tags=["jwstspec", "served"],
        description=f"jwstspec for program {config.program} observation {config.observation}",
    )


def main(argv: list[str] | None = None) -> int:
    """Serve the deployment of one configuration (with its schedule) until stopped; return the exit code."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="TOML configuration of the program to serve")
    parser.add_argument("--cron", default=None, help='schedule, e.g. "0 3 * * *" (default: on demand only)')
    parser.add_argument("--name", default="served", help="deployment name")
    args = parser.parse_args(argv)
    from prefect import serve

    from flows.runtime import configure_environment

    configure_environment()
    serve(build_deployment(args.config, args.cron, args.name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
