using static M2SNet.Edge.Torch.torch;

namespace M2SNet.Edge.Models;

/// <summary>The small layer stacks the networks are built from, with the authors' key layout.</summary>
public static class Layers
{
    /// <summary>CBR: 3×3 convolution (padding 1, with bias), batch norm, ReLU — keys ".0" and ".1".</summary>
    public static nn.Sequential ConvBnRelu(long inChannels, long outChannels) =>
        new(new nn.Conv2d(inChannels, outChannels, 3, padding: 1), new nn.BatchNorm2d(outChannels), new nn.ReLU());

    /// <summary>A convolution without bias, as everywhere in the Res2Net backbone.</summary>
    public static nn.Conv2d Conv(long inChannels, long outChannels, long kernel, long stride = 1) =>
        new(inChannels, outChannels, kernel, stride: stride, padding: kernel / 2, bias: false);

    /// <summary>Res2Net's initialisation: Kaiming-normal (fan-out, ReLU) convolutions, unit/zero batch norms.</summary>
    public static void InitializeLikeResNet(nn.Module module)
    {
        foreach (var (_, m) in module.named_modules())
        {
            switch (m)
            {
                case nn.Conv2d conv:
                    nn.init.kaiming_normal_(conv.weight, fan_out: true);
                    break;
                case nn.BatchNorm2d bn:
                    nn.init.constant_(bn.weight, 1);
                    nn.init.constant_(bn.bias, 0);
                    break;
            }
        }
    }
}
