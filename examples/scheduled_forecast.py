"""One scheduled forecasting run: the same as ``tsgate job run`` with the same options.

Learns online from the drop files that arrived in ``--inbox``, appends the forecasts to the
parquet store ``--store`` (one file per run) and saves the model, under a lock, idempotently
and safe to kill at any moment. What a run does, its exit codes and its crash safety are
described in ``docs/jobs.md`` (and ``tsgate job run --help``).

Usage::

    python examples/scheduled_forecast.py --model m1 --inbox inbox/ --store forecasts/ \\
        [--state forecasts/_state] [--time-col time] [--id-col series] [--target z1]... \\
        [--wait 0] [--threads 1] [--quiet]

Crontab line (every 5 minutes; a run that finds the lock taken exits 75 at once)::

    */5 * * * * /opt/tsgate/.venv/bin/tsgate job run --model /srv/tsgate/model --inbox /srv/tsgate/inbox --store /srv/tsgate/forecasts --threads 1 --quiet >> /var/log/tsgate-forecast.log 2>&1

systemd: ``tsgate-forecast.service`` and ``tsgate-forecast.timer`` beside this file.
"""

import sys

from tsgate.cli.app import main

if __name__ == "__main__":
    main(["job", "run", *sys.argv[1:]])
