using CountCachula.WebFrontend;

// One silo with its web frontend: demo page at '/', SSE at /api/cache-events, publishing at /api/cache/*.
var app = FrontendHost.Build(args);
app.Run();
