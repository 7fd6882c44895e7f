"""Measure this machine and real engines: CPU and GPU microbenchmarks, llama.cpp on synthetic
GGUF models. Every LLM measurement becomes rows of the canonical calibration CSV schema
(``calib/dataset.py``), so ``validate`` and ``calibrate`` read them directly.

Modules import their heavy dependencies (numpy BLAS runs, torch, llama_cpp, gguf) inside
functions; importing the package is cheap.
"""
