"""perf/chunks.py: how prompts split into steps and when their first tokens come out."""


def test_a_prompt_gets_its_first_token_when_the_step_holding_its_last_chunk_ends():
    from inferplan.perf.chunks import first_token_share

    assert first_token_share(64, 128, 8192) == 1.0  # one step
    assert first_token_share(8, 2048, 8192) == 0.75  # 4 + 4: half at 1/2, half at the end
    assert first_token_share(64, 1024, 8192) == 0.5625  # 8 steps of 8: (1 + 8) / 16
    assert first_token_share(16, 9000, 8192) == 17 / 32  # one after another: (n + 1) / 2n
