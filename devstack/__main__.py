"""Command line of the local stack: `python -m devstack <command>`.

install                          fetch / build what the stack needs into .cache/
up     [--name dev|test] [--fresh] [--no-topics]
                                 start Kafka, FerretDB and Redis; write .stack/<name>/env
down   [--name dev|test | --all] stop everything an instance started (a `run` too)
status [--name dev|test]         which servers run and answer
env    [--name dev|test]         print the NAME=value lines of an instance
run    [--no-demo] [--fresh]     the whole of Cercle in the foreground (`make run`)
demo   [--events-url URL] [--points-url URL] [--seed N]
                                 load the demo organisation into running services
"""

from __future__ import annotations

import argparse
import sys

from devstack import demo, services, stack
from devstack.config import INSTANCE_NAMES, REPO_ROOT, ConfigError, load_config, render_env_file
from devstack.install import InstallError, install
from devstack.processes import ProcessStartError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m devstack",
        description="The local Cercle stack: Kafka, FerretDB and Redis on 127.0.0.1.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    commands.add_parser("install", help="fetch and build what the stack needs (idempotent)")

    up = commands.add_parser("up", help="start an instance of the stack")
    up.add_argument("--name", choices=INSTANCE_NAMES, default="dev")
    up.add_argument("--fresh", action="store_true", help="wipe the instance's data first")
    up.add_argument(
        "--topics",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="create the topics (default: yes)",
    )

    down = commands.add_parser("down", help="stop an instance (and its `run`)")
    which = down.add_mutually_exclusive_group()
    which.add_argument("--name", choices=INSTANCE_NAMES, default="dev")
    which.add_argument("--all", action="store_true", help="every instance under .stack/")

    for name, text in (("status", "show an instance's servers"), ("env", "print its env")):
        command = commands.add_parser(name, help=text)
        command.add_argument("--name", choices=INSTANCE_NAMES, default="dev")

    run = commands.add_parser("run", help="run the whole of Cercle in the foreground")
    run.add_argument("--fresh", action="store_true", help="wipe the dev data first")
    run.add_argument("--no-demo", dest="demo", action="store_false", help="skip the demo")

    load = commands.add_parser("demo", help="load the demo organisation")
    load.add_argument("--events-url", default=services.service_urls()["EVENTS_URL"])
    load.add_argument("--points-url", default=services.service_urls()["POINTS_URL"])
    load.add_argument("--seed", type=int, default=demo.DEFAULT_SEED)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the process exit code."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "install":
            install(load_config("dev"))
        elif args.command == "up":
            stack.up(load_config(args.name), fresh=args.fresh, topics=args.topics)
        elif args.command == "down":
            names = stack.known_instances(REPO_ROOT) if args.all else [args.name]
            for name in names:
                if name in INSTANCE_NAMES:
                    stack.down(load_config(name))
        elif args.command == "status":
            return _status(args.name)
        elif args.command == "env":
            print(render_env_file(load_config(args.name)), end="")
        elif args.command == "run":
            return services.run(load_config("dev"), demo=args.demo, fresh=args.fresh)
        elif args.command == "demo":
            demo.load_demo(args.events_url, args.points_url, seed=args.seed)
    except (ConfigError, InstallError, stack.StackError, ProcessStartError) as error:
        print(f"devstack: {error}", file=sys.stderr)
        return 1
    except demo.DemoLoadError as error:
        print(f"devstack: demo: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


def _status(name: str) -> int:
    config = load_config(name)
    healthy = True
    for server in stack.status(config):
        state = f"pid {server.pid}" if server.pid else "not running"
        answer = "answers" if server.answering else "does not answer"
        print(f"{server.name}: {state}, {answer}")
        healthy = healthy and server.answering
    for variable, address in config.service_env().items():
        print(f"{variable}={address}")
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
