"""Our batched Viterbi against pytorch-crf, and marginals against brute-force enumeration."""

import itertools

import torch
from torchcrf import CRF

from engine.detection.decoding import crf_marginals, viterbi_decode
from engine.detection.model import BiLSTMCRF, reverse_within_lengths


def _random_crf(k: int, seed: int) -> CRF:
    torch.manual_seed(seed)
    crf = CRF(k, batch_first=True)
    with torch.no_grad():
        for p in crf.parameters():
            p.normal_(0, 2.0)
    return crf


def _params(crf: CRF) -> tuple:
    return tuple(
        p.detach().numpy() for p in (crf.start_transitions, crf.end_transitions, crf.transitions)
    )


def test_viterbi_paths_identical_to_pytorch_crf() -> None:
    for seed in range(20):
        crf = _random_crf(9 + seed, seed)
        lengths = torch.tensor([13, 1, 7, 13, 4, 10])
        em = torch.randn(len(lengths), 13, 9 + seed) * 3
        mask = torch.arange(13).unsqueeze(0) < lengths.unsqueeze(1)
        expected = crf.decode(em, mask=mask)
        ours = viterbi_decode(em.numpy(), lengths.numpy(), *_params(crf))
        for i, path in enumerate(expected):
            assert ours[i, : lengths[i]].tolist() == path
            assert not ours[i, lengths[i] :].any()


def test_marginals_match_brute_force() -> None:
    crf = _random_crf(3, 7)
    lengths = torch.tensor([4, 2])
    em = torch.randn(2, 4, 3)
    post = torch.from_numpy(crf_marginals(em.numpy(), lengths.numpy(), *_params(crf)))
    for b, n in enumerate(lengths.tolist()):
        expected = torch.zeros(n, 3, dtype=torch.float64)
        z = 0.0
        for path in itertools.product(range(3), repeat=n):
            tags = torch.tensor([path])
            m = torch.ones(1, n, dtype=torch.bool)
            w = float(torch.exp(crf(em[b : b + 1, :n], tags, mask=m, reduction="sum")).detach())
            z += w
            for t, tag in enumerate(path):
                expected[t, tag] += w
        torch.testing.assert_close(post[b, :n], expected / z, rtol=1e-4, atol=1e-6)
    assert not post[1, 2:].any()


def test_reverse_within_lengths_is_an_involution_that_keeps_padding() -> None:
    x = torch.arange(12.0).view(2, 6, 1)
    lengths = torch.tensor([4, 6])
    r = reverse_within_lengths(x, lengths)
    assert r[0, :, 0].tolist() == [3, 2, 1, 0, 4, 5]
    assert torch.equal(reverse_within_lengths(r, lengths), x)


def test_padding_does_not_change_emissions() -> None:
    torch.manual_seed(0)
    model = BiLSTMCRF(num_tags=5, embedding_dim=8, hidden_size=8, num_layers=2).eval()
    short = torch.tensor([[3, 200, 0, 17]])
    padded = torch.tensor([[3, 200, 0, 17, 0, 0, 0], [1, 2, 3, 4, 5, 6, 7]])
    with torch.no_grad():
        alone = model.emissions(short, torch.tensor([4]))
        batched = model.emissions(padded, torch.tensor([4, 7]))
    torch.testing.assert_close(alone[0], batched[0, :4], rtol=1e-5, atol=1e-6)
