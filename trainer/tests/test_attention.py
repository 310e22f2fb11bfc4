"""The skewed relative attention against Shaw et al.'s naive form, as Reprise tests its own."""

import pytest
import torch

from reprise_trainer.model import naive_relative_attention, relative_attention


@pytest.mark.parametrize("length", [5, 16, 23])  # below, at and above M = 16
def test_skewed_equals_naive(length):
    torch.manual_seed(length)
    b, h, dh, m = 2, 3, 8, 16
    q, k, v = (torch.randn(b, h, length, dh) for _ in range(3))
    er = torch.randn(h, m, dh)
    fast = relative_attention(q, k, v, er)
    slow = naive_relative_attention(q, k, v, er)
    assert (fast - slow).abs().max() < 1e-5


def test_skewed_equals_naive_with_padding():
    torch.manual_seed(7)
    b, h, dh, m, l = 3, 2, 4, 8, 7
    q, k, v = (torch.randn(b, h, l, dh) for _ in range(3))
    er = torch.randn(h, m, dh)
    pads = [0, 2, 3]
    km = torch.tensor([[0.0 if j < p else 1.0 for j in range(l)] for p in pads])
    fast = relative_attention(q, k, v, er, km)
    slow = naive_relative_attention(q, k, v, er, km)
    for row, p in enumerate(pads):  # padding queries see only padding: compare the real ones
        assert (fast[row, :, p:] - slow[row, :, p:]).abs().max() < 1e-5


def test_relative_memory_is_linear_in_length():
    """The skew never materialises an L×L×Dh tensor: the relative embeddings used are L×Dh per head."""
    from reprise_trainer.model import relative_embeddings

    er = torch.randn(4, 32, 8)
    assert relative_embeddings(er, 20).shape == (4, 20, 8)
    assert relative_embeddings(er, 40).shape == (4, 40, 8)
    assert relative_embeddings(er, 40)[:, :8].abs().sum() == 0  # distances >= M: zero
