using static M2SNet.Edge.Torch.torch;

namespace M2SNet.Edge.Models.Networks;

/// <summary>A network that maps an image [N, 3, H, W] to lesion logits [N, 1, H, W].</summary>
public interface ISegmentationNetwork
{
    /// <summary>The forward pass over any backend (libtorch tensors, ONNX graph values).</summary>
    T Forward<T>(IOps<T> ops, T image);

    /// <summary>The forward pass on libtorch tensors, with autograd in training.</summary>
    Tensor forward(Tensor image);

    /// <summary>The pretrained backbone (ImageNet weights, the lower learning rate).</summary>
    nn.Module Backbone { get; }
}
