"""Progress of an experiment: one bar over all its model fits (tqdm)."""

import sys
import threading
from contextlib import contextmanager

from tqdm import tqdm

__all__ = ["FitProgress"]

# joblib backends whose workers run on this machine and can reach a local
# multiprocessing manager; a remote one (dask) reports whole domains only.
_LOCAL_BACKENDS = ("LokyBackend", "MultiprocessingBackend", "ThreadingBackend",
                   "SequentialBackend")


class FitProgress:
    """A progress bar over the model fits of an experiment, and its messages.

    The bar goes to stderr with the elapsed time and an estimate of the time
    left; its postfix names the domain and the model being fitted. It stays
    silent at ``verbose=0`` and, as tqdm does with ``disable=None``, when
    stderr is not a terminal (a log file, a batch job), where the per-domain
    lines on stdout are the record of progress.

    Parameters
    ----------
    total : int
        Model fits of the whole experiment.
    verbose : int
        The experiment's verbosity; 0 disables the bar and every message.

    Examples
    --------
    >>> from sklearn_soilspec.experiments._progress import FitProgress
    >>> with FitProgress(total=2, verbose=0) as progress:
    ...     progress.start("site A", "plsr_local")
    ...     progress.done()
    >>> progress.bar.total
    2
    """

    def __init__(self, total, verbose):
        self.verbose = int(verbose)
        self.bar = tqdm(
            total=int(total), desc="fits", unit="fit", file=sys.stderr,
            disable=True if not self.verbose else None, dynamic_ncols=True,
            # Steady rate: fits differ in length (a global network against a
            # local PLS), so a long-run average estimates the rest best.
            smoothing=0.1,
        )

    @property
    def live(self):
        """Whether the bar is drawn (verbose and stderr a terminal)."""
        return not self.bar.disable

    def start(self, domain, model):
        """Name the fit that begins in the bar's postfix."""
        if self.live:
            self.bar.set_postfix_str(f"domain {domain!s}, {model}", refresh=True)
            if self.verbose >= 2:
                # The model's own epoch table follows on stdout: the bar
                # stays above it as its heading instead of being torn apart.
                self.bar.fp.write("\n")
                self.bar.fp.flush()

    def done(self, n=1):
        """Count ``n`` finished fits."""
        self.bar.update(n)

    def domain_done(self, domain, n):
        """Count the ``n`` fits of a domain that came back from a worker."""
        if self.live:
            self.bar.set_postfix_str(f"domain {domain!s} done", refresh=False)
        self.bar.update(n)

    def write(self, message):
        """Print a line to stdout (above the bar when it is drawn)."""
        if not self.verbose:
            return
        if self.live:
            # Through tqdm, so that the line does not tear the bar apart.
            tqdm.write(message, file=sys.stdout)
            sys.stdout.flush()
        else:
            print(message, file=sys.stdout, flush=True)

    def close(self):
        self.bar.close()

    @contextmanager
    def relay(self):
        """A reporter for worker processes that forwards their fits to this bar.

        Yields an object with the bar's ``start``, ``done``, ``write`` and
        ``live`` (picklable: it holds a queue of a multiprocessing manager),
        or None where nothing is shown or the joblib backend's workers may
        run on other machines; then the bar advances as each domain comes
        back (:meth:`domain_done`).
        """
        if not self.verbose or not _local_backend():
            yield None
            return
        from multiprocessing import Manager

        with Manager() as manager:
            queue = manager.Queue()
            thread = threading.Thread(target=self._drain, args=(queue,), daemon=True)
            thread.start()
            try:
                yield _Reporter(queue, self.live)
            finally:
                queue.put(None)
                thread.join()

    def _drain(self, queue):
        # One message per call of a worker's reporter, in the order sent.
        for kind, args in iter(queue.get, None):
            getattr(self, kind)(*args)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


class _Reporter:
    """The bar's interface in a worker: every call becomes a message to the bar."""

    def __init__(self, queue, live):
        self.queue = queue
        self.live = live

    def start(self, domain, model):
        self.queue.put(("start", (domain, model)))

    def done(self, n=1):
        self.queue.put(("done", (n,)))

    def write(self, message):
        self.queue.put(("write", (message,)))


def _local_backend():
    from joblib.parallel import get_active_backend

    backend, _ = get_active_backend()
    return type(backend).__name__ in _LOCAL_BACKENDS
