"""How long a newly arrived request waits for its first scheduling chance (engine admission).

Serving engines do not look at their request queue at every step when told not to: SGLang
polls its socket every ``--scheduler-recv-interval`` decode steps and runs
``--num-continuous-decode-steps`` steps back to back; TensorRT-LLM with attention data
parallelism can hold prompts until every rank has one (``attention_dp_config.enable_balance``,
``timeout_iters``) or until enough prompt tokens are queued (``batch_wait_timeout_iters``,
``batch_wait_max_tokens_ratio``). Each knob is a count of decode steps a request waits before
its prompt is scheduled; the estimate adds the mean wait, in decode steps, to the TTFT.
"""

from __future__ import annotations

from inferplan.catalog.schema import Admission


def admission_wait_steps(adm: Admission, running: float, input_len: int, output_len: int,
                         ranks: int, budget_tokens: int) -> float:
    """Mean decode steps a request arriving at a random step waits before its prompt is scheduled.

    - Polling every N steps: the arrival's phase is uniform over the N steps, mean (N - 1) / 2;
      K decode steps back to back likewise (K - 1) / 2.
    - Holding prompts until a threshold with a timeout of T steps: in a closed loop with
      `running` sequences per replica, each emitting one token per step, sequences finish and
      their clients send the next request at lambda = running / output_len per step. Every rank
      holding a prompt takes ``ranks - 1`` more arrivals after the one that opens the hold
      ((ranks - 1) / lambda steps); a token threshold of ratio x `budget_tokens` takes ratio x
      budget / (lambda x input_len) steps. The hold lasts W = min(T, time to threshold): the
      arrival that opens it waits all of W, the n = lambda W that come during it (Poisson, so
      uniform over it) W / 2 on average, so the mean over the hold's requests is
      ``W (1 + n / 2) / (1 + n)`` (``_held_mean``; between W / 2 and W).
    """
    wait = (adm.recv_interval_steps - 1) / 2 + (adm.continuous_decode_steps - 1) / 2
    rate = running / max(output_len, 1)  # arrivals per decode step, closed loop
    if rate <= 0:
        return wait
    if adm.adp_balance_timeout_steps > 0 and ranks > 1:
        wait += _held_mean(min(adm.adp_balance_timeout_steps, (ranks - 1) / rate), rate)
    if adm.batch_wait_timeout_steps > 0 and input_len > 0:
        fill = adm.batch_wait_max_tokens_ratio * budget_tokens / (rate * input_len)
        wait += _held_mean(min(adm.batch_wait_timeout_steps, fill), rate)
    return wait


def _held_mean(window: float, rate: float) -> float:
    """Mean decode steps waited by the requests of one hold of `window` steps, with arrivals
    at `rate` per step: the opener waits `window`, the rate x window others half of it each."""
    n = rate * window
    return window * (1 + n / 2) / (1 + n)


def admission_note(adm: Admission, steps: float) -> str:
    """The estimate's note on the wait: how long and which knobs cause it."""
    knobs = [("scheduler recv interval", adm.recv_interval_steps, 1),
             ("continuous decode steps", adm.continuous_decode_steps, 1),
             ("attention-DP balance timeout", adm.adp_balance_timeout_steps, 0),
             ("batch wait timeout", adm.batch_wait_timeout_steps, 0)]
    why = ", ".join(f"{name} {v}" for name, v, off in knobs if v != off)
    return f"a new request waits {steps:.1f} decode steps on average before its prompt is scheduled ({why})"
