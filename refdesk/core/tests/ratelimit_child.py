"""One process of the cross-process rate-limit test (test_ratelimit_concurrency.py).

``python -m refdesk.core.tests.ratelimit_child DIR NAME THREADS LIMIT``: connects THREADS
threads to the database named by DATABASE_URL, writes ``DIR/NAME.ready`` once all are
connected, waits for ``DIR/go``, then each thread counts one hit of the same key; prints how
many were let through. No timing is asserted anywhere: the waits only make overlap likely.
"""

import contextlib
import sys
import threading
import time
from pathlib import Path

import django

WAIT_SECONDS = 300  # only a guard against a hung parent; never part of a result


def main(directory: str, name: str, threads: int, limit: int) -> None:
    django.setup()
    from django.db import connection

    from refdesk.core.ratelimit import Limit, RateLimited, rate_limit_hit

    rule = Limit(scope="intake.address", limit=limit, window=10**9)  # no window ends meanwhile
    folder = Path(directory)
    barrier = threading.Barrier(threads)
    allowed: list[int] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            connection.ensure_connection()
            if barrier.wait() == 0:
                (folder / f"{name}.ready").touch()
            deadline = time.monotonic() + WAIT_SECONDS
            while not (folder / "go").exists():
                if time.monotonic() > deadline:
                    raise TimeoutError("the parent never said go")
                time.sleep(0.002)
            with contextlib.suppress(RateLimited):
                allowed.append(rate_limit_hit(rule=rule, key="one client").count)
        except BaseException as error:  # reported to the parent through the exit status
            errors.append(error)
        finally:
            connection.close()

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if errors:
        raise errors[0]
    print(len(allowed))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
