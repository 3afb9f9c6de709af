using UdpFanout.Hosting;

return await CommandLine.RunAsync(args);
