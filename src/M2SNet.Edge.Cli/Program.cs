using System.CommandLine;
using M2SNet.Edge.Cli;

var root = new RootCommand("m2s: M2SNet.Edge training host and tools (train, evaluate, export, inspect models).");
root.Subcommands.Add(OrtCheckCommand.Create());
root.Subcommands.Add(DemoCommand.Create());
root.Subcommands.Add(SynthCommand.Create());
root.Subcommands.Add(TrainCommand.Create());
root.Subcommands.Add(EvalCommand.Create());
root.Subcommands.Add(ImportCommand.Create());
root.Subcommands.Add(ExportCommand.Create());
root.Subcommands.Add(QuantizeCommand.Create());
root.Subcommands.Add(VideoCommand.Create());
root.Subcommands.Add(BundleCommand.CreateKeygen());
root.Subcommands.Add(BundleCommand.CreateBundle());
root.Subcommands.Add(TlsCommand.Create());
return await root.Parse(args).InvokeAsync();
