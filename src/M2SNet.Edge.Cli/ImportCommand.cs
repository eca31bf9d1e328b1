using System.CommandLine;
using M2SNet.Edge.Models;
using M2SNet.Edge.Models.Networks;
using M2SNet.Edge.Training;
using static M2SNet.Edge.Torch.torch;

namespace M2SNet.Edge.Cli;

/// <summary><c>m2s import</c>: the authors' released .pth into a checkpoint of ours (float32, checked against the network).</summary>
internal static class ImportCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = $"network the checkpoint is for: {string.Join(", ", ModelRegistry.Names)}", Required = true };
        var checkpoint = new Option<FileInfo>("--checkpoint") { Description = "the released .pth (state dict; float16 or float32; wrapped or not)", Required = true };
        var output = new Option<FileInfo>("--out") { Description = "our checkpoint to write (train --resume and export read it)", Required = true };
        var command = new Command("import", "Check a released PyTorch checkpoint against a network of the zoo and save it as a training checkpoint of ours.")
        {
            model, checkpoint, output,
        };
        command.SetAction(parse => CliErrors.Guard(() =>
        {
            var spec = ModelRegistry.Get(parse.GetValue(model)!);
            var source = parse.GetValue(checkpoint)!;
            if (!source.Exists) throw new CliException($"checkpoint not found: {source.FullName}");
            using var network = (nn.Module)spec.Create();
            var kind = Checkpoint.LoadNetwork((ISegmentationNetwork)network, Checkpoint.Load(source.FullName));
            if (kind == CheckpointKind.Backbone) throw new CliException($"{source.Name} holds only an ImageNet backbone; use it as train --backbone-weights");
            using var sgd = new optim.SGD([new optim.ParamGroup("all", [.. network.parameters()], 0)]);
            var target = parse.GetValue(output)!.FullName;
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            TrainingCheckpoint.Save(target, spec.Name, network, sgd, epoch: -1, bestDice: 0,
                new TrainingMeta($"imported from {source.Name}", 0, 0, spec.InputSize, "weights released by the authors", new Dictionary<string, double>()));
            Console.WriteLine($"imported {source.Name} ({network.state_dict().Count} tensors, {ModelRegistry.CountParameters((ISegmentationNetwork)network):N0} parameters) as {target}");
            return 0;
        }));
        return command;
    }
}
