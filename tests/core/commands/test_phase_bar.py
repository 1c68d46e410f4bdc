from core.commands.phase_bar import phase_bar


def test_a_new_phase_restarts_the_count_and_shows_its_message():
    bar, progress = phase_bar()
    try:
        progress(3, 10, "synthetic drive/03")
        assert (bar.n, bar.total) == (3, 10) and bar.desc.startswith("synthetic drive/03")
        progress(1, 4, "real fidelity " + "x" * 60)
        assert (bar.n, bar.total) == (1, 4) and len(bar.desc) <= 40
        progress(4, 4, "real fidelity done")
        assert bar.n == 4
    finally:
        bar.close()
