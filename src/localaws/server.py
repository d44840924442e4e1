"""The localaws server process: moto's WSGI app, patched, served on one port."""

from __future__ import annotations

import argparse
import json
import os
import signal
import time
from pathlib import Path

from localaws.config import Config


def create_app(config: Config):
    """Build the WSGI application: moto's dispatcher with localaws's extensions applied."""
    # Step Functions tasks call back into this server; moto reads the port from MOTO_PORT.
    os.environ["MOTO_PORT"] = str(config.port)
    from moto.core.config import default_user_config
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    default_user_config.setdefault("stepfunctions", {})["execute_state_machine"] = True
    from localaws.patches import apply_all

    apply_all()
    return DomainDispatcherApplication(create_backend_app)


def serve(config: Config) -> None:
    """Run the server in the foreground until SIGTERM/SIGINT."""
    from werkzeug.serving import make_server

    config.state_dir.mkdir(parents=True, exist_ok=True)
    app = create_app(config)
    httpd = make_server(config.host, config.port, app, threaded=True)
    info = {"pid": os.getpid(), "host": config.host, "port": config.port, "started": time.time()}
    config.pid_file.write_text(json.dumps(info))

    def _stop(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()
        config.pid_file.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m localaws.server")
    parser.add_argument("--state-dir", type=Path)
    parser.add_argument("--port", type=int)
    args = parser.parse_args(argv)
    serve(Config.from_env(args.state_dir, args.port))


if __name__ == "__main__":
    main()
