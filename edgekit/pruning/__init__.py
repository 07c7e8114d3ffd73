"""Pruning: dependency-aware structured channel pruning (Torch-Pruning's DepGraph behind
edgekit's own config), unstructured magnitude sparsity and 2:4 semi-structured sparsity.

Imports torch lazily through its submodules; the public entry point is ``prune_module``.
"""
