using static M2SNet.Edge.Torch.torch;

namespace M2SNet.Edge.Models;

/// <summary>
/// The operations a network's forward pass is written in. Each network writes its forward once,
/// over <c>T</c>: with <see cref="TorchOps"/> it computes on libtorch tensors (training,
/// evaluation); with the exporter's backend the same code emits an ONNX graph, so the exported
/// graph cannot drift from the trained network.
/// </summary>
/// <typeparam name="T">A tensor (libtorch) or a graph value (ONNX).</typeparam>
public interface IOps<T>
{
    /// <summary>A leaf layer or a <see cref="nn.Sequential"/> of them: conv, batch norm, ReLU, pools, linear.</summary>
    T Apply(nn.Module<Tensor, Tensor> layer, T x);

    T Relu(T x);

    T Add(T a, T b);

    T Sub(T a, T b);

    T Abs(T x);

    T Sigmoid(T x);

    /// <summary>Bilinear resize of <paramref name="x"/> to the height and width of <paramref name="like"/> (align_corners = false).</summary>
    T ResizeLike(T x, T like);

    /// <summary>Concatenation along the channel axis.</summary>
    T CatChannels(IReadOnlyList<T> xs);

    /// <summary>Consecutive channel groups of <paramref name="width"/> channels each.</summary>
    IReadOnlyList<T> SplitChannels(T x, int width);

    /// <summary>
    /// The fixed convolution of the multi-scale subtraction unit: all-ones weights C×C×k×k, zero
    /// bias, padding (k−1)/2, stride 1, so every output channel is the k×k window sum over all
    /// input channels.
    /// </summary>
    T OnesConv(T x, int kernel);
}
