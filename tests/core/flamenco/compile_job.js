// A stand-in for the Flamenco 3 Manager's job compiler, written from Flamenco's job-type
// documentation (Flamenco itself cannot be installed here): it loads a job-type script
// into a fresh context with the globals Flamenco gives one (author.Task,
// author.Command, path, print, frameChunker, formatTimestampLocal), checks JOB_TYPE the
// way the Manager does, fills in setting defaults, runs compileJob(job) and prints the
// authored job as JSON.
//
//   node compile_job.js JOB_TYPE.js SETTINGS.json
//
// Exit 0 with the job on stdout; exit 1 with the script's error message on stderr.

"use strict";

const fs = require("fs");
const nodePath = require("path");
const vm = require("vm");

const SETTING_TYPES = new Set(["string", "int32", "float", "bool"]);
const VISIBILITY = new Set(["visible", "hidden", "submission", "web"]);
const SUBTYPES = new Set(["file_path", "dir_path", "hashed_file_path"]);
const COMMANDS = {  // command name -> parameters it needs (Flamenco Worker's commands)
    "blender-render": ["exe", "blendfile", "args"],
    "exec": ["exe", "args"],
    "frames-to-video": ["exe", "fps", "inputGlob", "outputFile", "args"],
    "move-directory": ["src", "dest"],
    "copy-file": ["src", "dest"],
};

class AuthoredCommand {
    constructor(name, parameters) {
        if (!(name in COMMANDS)) {
            throw new Error(`unknown command "${name}"`);
        }
        for (const key of COMMANDS[name]) {
            if (parameters[key] === undefined) {
                throw new Error(`command "${name}" lacks the parameter "${key}"`);
            }
        }
        this.name = name;
        this.parameters = parameters;
    }
}

class AuthoredTask {
    constructor(name, type) {
        if (!name || !type) {
            throw new Error("author.Task(name, type) needs both");
        }
        this.name = name;
        this.type = type;
        this.commands = [];
        this.dependencies = [];
    }

    addCommand(command) {
        if (!(command instanceof AuthoredCommand)) {
            throw new Error(`task "${this.name}": addCommand takes an author.Command`);
        }
        this.commands.push(command);
    }

    addDependency(task) {
        if (!(task instanceof AuthoredTask)) {
            throw new Error(`task "${this.name}": addDependency takes an author.Task`);
        }
        this.dependencies.push(task);
    }
}

function checkJobType(jobType) {
    if (!jobType || typeof jobType.label !== "string" || !Array.isArray(jobType.settings)) {
        throw new Error("JOB_TYPE needs a label and a settings list");
    }
    const keys = new Set();
    for (const setting of jobType.settings) {
        if (keys.has(setting.key)) {
            throw new Error(`setting "${setting.key}" is defined twice`);
        }
        keys.add(setting.key);
        if (!SETTING_TYPES.has(setting.type)) {
            throw new Error(`setting "${setting.key}": unknown type "${setting.type}"`);
        }
        if (setting.visible !== undefined && !VISIBILITY.has(setting.visible)) {
            throw new Error(`setting "${setting.key}": unknown visibility "${setting.visible}"`);
        }
        if (setting.subtype !== undefined && !SUBTYPES.has(setting.subtype)) {
            throw new Error(`setting "${setting.key}": unknown subtype "${setting.subtype}"`);
        }
        if (setting.default !== undefined && !matchesType(setting.default, setting.type)) {
            throw new Error(`setting "${setting.key}": default ${JSON.stringify(setting.default)} is not a ${setting.type}`);
        }
    }
}

function matchesType(value, type) {
    switch (type) {
    case "string": return typeof value === "string";
    case "int32": return Number.isInteger(value);
    case "float": return typeof value === "number";
    case "bool": return typeof value === "boolean";
    }
    return false;
}

// Flamenco's frameChunker: "1-10,20" in chunks of `size` consecutive frames.
function frameChunker(frames, size) {
    const numbers = [];
    for (const part of String(frames).split(",")) {
        const [first, last] = part.trim().split("-").map(Number);
        for (let frame = first; frame <= (last === undefined ? first : last); frame++) {
            numbers.push(frame);
        }
    }
    const result = [];
    for (let index = 0; index < numbers.length; index += size) {
        const chunk = numbers.slice(index, index + size);
        result.push(chunk.length > 1 ? `${chunk[0]}-${chunk[chunk.length - 1]}` : `${chunk[0]}`);
    }
    return result;
}

function main() {
    const [scriptPath, settingsPath] = process.argv.slice(2);
    const source = fs.readFileSync(scriptPath, "utf8");
    const given = JSON.parse(fs.readFileSync(settingsPath, "utf8"));
    const log = [];
    const context = vm.createContext({
        author: {
            Task: (name, type) => new AuthoredTask(name, type),
            Command: (name, parameters) => new AuthoredCommand(name, parameters),
        },
        path: {
            join: nodePath.posix.join,
            dirname: nodePath.posix.dirname,
            basename: nodePath.posix.basename,
            stem: (p) => nodePath.posix.basename(p, nodePath.posix.extname(p)),
        },
        print: (...parts) => log.push(parts.map(String).join(" ")),
        frameChunker: frameChunker,
        formatTimestampLocal: (date) => date.toISOString(),
        process: { platform: "linux" },
    });
    vm.runInContext(`${source}\n;globalThis.__jobType = JOB_TYPE; globalThis.__compileJob = compileJob;`, context,
                    { filename: scriptPath });
    checkJobType(context.__jobType);

    const settings = {};
    for (const setting of context.__jobType.settings) {
        if (setting.key in given) {
            settings[setting.key] = given[setting.key];
        } else if (setting.default !== undefined) {
            settings[setting.key] = setting.default;
        } else if (setting.required) {
            throw new Error(`required setting "${setting.key}" not given`);
        }
    }
    const tasks = [];
    const job = {
        name: "test job", created: new Date(0), metadata: {}, settings: settings,
        addTask: (task) => {
            if (!(task instanceof AuthoredTask)) {
                throw new Error("job.addTask takes an author.Task");
            }
            if (tasks.some((t) => t.name === task.name)) {
                throw new Error(`two tasks are named "${task.name}"`);
            }
            if (!task.commands.length) {
                throw new Error(`task "${task.name}" has no command`);
            }
            tasks.push(task);
        },
    };
    context.__compileJob(job);
    for (const task of tasks) {
        for (const dependency of task.dependencies) {
            if (!tasks.includes(dependency)) {
                throw new Error(`task "${task.name}" depends on "${dependency.name}", which is not in the job`);
            }
        }
    }
    process.stdout.write(JSON.stringify({
        label: context.__jobType.label,
        settings: settings,
        log: log,
        tasks: tasks.map((task) => ({
            name: task.name,
            type: task.type,
            commands: task.commands.map((c) => ({ name: c.name, parameters: c.parameters })),
            dependencies: task.dependencies.map((d) => d.name),
        })),
    }, null, 1));
}

try {
    main();
} catch (error) {
    process.stderr.write(`${error && error.message ? error.message : error}\n`);
    process.exit(1);
}
