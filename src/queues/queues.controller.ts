import { Body, Controller, Get, HttpCode, Param, Patch, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { QueueSettingsDto } from './dto/queue-settings.dto';
import { QueueNamePipe } from './queue-name.pipe';
import { QueuesService } from './queues.service';

@ApiTags('queues')
@ApiBearerAuth()
@Controller('api/queues')
export class QueuesController {
  constructor(private readonly queues: QueuesService) {}

  @Get()
  @ApiOperation({ summary: 'Every queue with jobs or settings: counts per state, limit, paused, overrides, workers serving it' })
  async list() {
    return { queues: await this.queues.list() };
  }

  @Get(':name')
  @ApiOperation({ summary: 'One queue; 404 when it has neither jobs nor settings' })
  show(@Param('name', QueueNamePipe) name: string) {
    return this.queues.show(name);
  }

  @Patch(':name')
  @ApiOperation({ summary: 'Change a queue\'s limit, pause or overrides (null clears one); creates the queue\'s settings when it has none' })
  set(@Param('name', QueueNamePipe) name: string, @Body() body: QueueSettingsDto) {
    return this.queues.set(name, body);
  }

  @Post(':name/pause')
  @HttpCode(200)
  @ApiOperation({ summary: 'Pause: its jobs are not claimed, running ones finish; creates the queue\'s settings when it has none' })
  pause(@Param('name', QueueNamePipe) name: string) {
    return this.queues.pause(name);
  }

  @Post(':name/resume')
  @HttpCode(200)
  @ApiOperation({ summary: 'Resume: waiting workers on every replica look for its jobs at once' })
  resume(@Param('name', QueueNamePipe) name: string) {
    return this.queues.resume(name);
  }
}
