import pytest
import torch
import torch.nn.functional as F

from mmtnt.layers import (Attention, DropPath, PixelEmbed, manual_attention, pad_to_multiple,
                          resample_patch_pos, words_to_map)


@pytest.mark.parametrize('shape', [(2, 4, 16, 6), (1, 6, 197, 64)])
def test_manual_attention_equals_sdpa(shape):
    q, k, v = (torch.randn(shape) for _ in range(3))
    torch.testing.assert_close(manual_attention(q, k, v), F.scaled_dot_product_attention(q, k, v),
                               atol=1e-5, rtol=1e-5)


def test_attention_fused_equals_manual():
    attn = Attention(24, 4, qkv_bias=True)
    x = torch.randn(10, 16, 24)
    fused = attn(x)
    attn.fused_attn = False
    torch.testing.assert_close(attn(x), fused, atol=1e-5, rtol=1e-5)


def test_attention_rejects_indivisible_heads():
    with pytest.raises(ValueError, match='divisible'):
        Attention(10, 4)


def test_pad_to_multiple():
    x = torch.ones(1, 3, 17, 32)
    y = pad_to_multiple(x, 16)
    assert y.shape == (1, 3, 32, 32)
    assert y[..., :17, :].sum() == x.sum() and y[..., 17:, :].abs().sum() == 0


@pytest.mark.parametrize('legacy', [False, True])
def test_pixel_embed_matches_unfold_reference(legacy):
    """Patches and words come out in the order of timm's nn.Unfold-based reference."""
    pe = PixelEmbed(3, 8, legacy=legacy)
    x = torch.randn(2, 3, 48, 64)
    words, grid = pe(x)
    assert grid == (3, 4) and words.shape == (2 * 12, 16, 8)
    if legacy:
        ref = F.unfold(pe.proj(x), kernel_size=4, stride=4)  # (B, C*16, N)
        ref = ref.transpose(1, 2).reshape(24, 8, 16).transpose(1, 2)
    else:
        ref = F.unfold(x, kernel_size=16, stride=16).transpose(1, 2).reshape(24, 3, 16, 16)
        ref = pe.proj(ref).reshape(24, 8, 16).transpose(1, 2)
    torch.testing.assert_close(words, ref)


def test_words_to_map_layout():
    pe = PixelEmbed(3, 8)
    x = torch.randn(1, 3, 32, 48)
    words, grid = pe(x)
    fmap = words_to_map(words, grid, pe.word_grid)
    assert fmap.shape == (1, 8, 8, 12)
    # word (r, c) of patch (i, j) sits at pixel-level position (4i + r, 4j + c)
    i, j, r, c = 1, 2, 3, 1
    torch.testing.assert_close(fmap[0, :, 4 * i + r, 4 * j + c], words[i * grid[1] + j, 4 * r + c])


def test_resample_patch_pos_identity_and_shape():
    pos = torch.randn(1, 1 + 14 * 14, 8)
    assert resample_patch_pos(pos, (14, 14), (14, 14)) is pos
    out = resample_patch_pos(pos, (20, 31), (14, 14))
    assert out.shape == (1, 1 + 20 * 31, 8)
    torch.testing.assert_close(out[:, :1], pos[:, :1])  # class token untouched
    # a constant grid stays constant under bicubic resampling
    const = torch.cat([pos[:, :1], torch.full((1, 196, 8), 0.5)], dim=1)
    torch.testing.assert_close(resample_patch_pos(const, (7, 9), (14, 14))[:, 1:],
                               torch.full((1, 63, 8), 0.5), atol=1e-5, rtol=0)


def test_resample_patch_pos_fp32_inside():
    pos = torch.randn(1, 1 + 4 * 4, 8).to(torch.bfloat16)
    out = resample_patch_pos(pos, (6, 6), (4, 4))
    assert out.dtype == torch.bfloat16
    ref = resample_patch_pos(pos.float(), (6, 6), (4, 4)).to(torch.bfloat16)
    torch.testing.assert_close(out, ref)


def test_resample_patch_pos_rejects_wrong_grid():
    with pytest.raises(ValueError, match='grid'):
        resample_patch_pos(torch.randn(1, 51, 8), (7, 7), (7, 7))


def test_drop_path():
    x = torch.ones(1000, 4)
    dp = DropPath(0.5)
    assert torch.equal(dp.eval()(x), x)
    y = dp.train()(x)
    kept = (y[:, 0] != 0).float().mean()
    assert 0.4 < kept < 0.6 and torch.allclose(y[y != 0], torch.tensor(2.))


def test_inference_fast_path_equals_autograd_path_and_keeps_input():
    """Without autograd the layer adds residuals / applies GELU in its own buffers, never x's."""
    from mmtnt.layers import TransformerLayer
    # one attention kernel in both paths ('auto' would train these 16 tokens with the manual one)
    layer = TransformerLayer(24, 4, with_se=True, fused_attn=True).eval()
    x = torch.randn(6, 16, 24)
    x_before = x.clone()
    with torch.no_grad():
        fast = layer(x)
    torch.testing.assert_close(x, x_before, rtol=0, atol=0)
    torch.testing.assert_close(fast, layer(x).detach(), rtol=0, atol=0)
