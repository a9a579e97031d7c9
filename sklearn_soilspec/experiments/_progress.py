"""Progress of an experiment: one bar over all its model fits (tqdm)."""

import sys

from tqdm import tqdm

__all__ = ["FitProgress"]


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

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
