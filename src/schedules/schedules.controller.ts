import { Body, Controller, Delete, Get, HttpCode, Param, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { CreateScheduleDto } from './dto/create-schedule.dto';
import { ScheduleNamePipe } from './schedule-name.pipe';
import { SchedulesService } from './schedules.service';

@ApiTags('schedules')
@ApiBearerAuth()
@Controller('api/schedules')
export class SchedulesController {
  constructor(private readonly schedules: SchedulesService) {}

  @Get()
  @ApiOperation({ summary: 'Every schedule, by name, with its next run times' })
  async list() {
    return { schedules: await this.schedules.list() };
  }

  @Post()
  @ApiOperation({ summary: 'Add a schedule: a cron expression (in a time zone) or an interval, and the job each tick enqueues' })
  add(@Body() body: CreateScheduleDto) {
    return this.schedules.add(body);
  }

  @Get(':name')
  @ApiOperation({ summary: 'One schedule with its next run times' })
  show(@Param('name', ScheduleNamePipe) name: string) {
    return this.schedules.show(name);
  }

  @Delete(':name')
  @ApiOperation({ summary: 'Remove a schedule; the jobs it enqueued stay' })
  remove(@Param('name', ScheduleNamePipe) name: string) {
    return this.schedules.remove(name);
  }

  @Post(':name/pause')
  @HttpCode(200)
  @ApiOperation({ summary: 'Pause: no tick is enqueued until it is resumed' })
  pause(@Param('name', ScheduleNamePipe) name: string) {
    return this.schedules.pause(name);
  }

  @Post(':name/resume')
  @HttpCode(200)
  @ApiOperation({ summary: 'Resume from the next tick (ticks while paused are not caught up)' })
  resume(@Param('name', ScheduleNamePipe) name: string) {
    return this.schedules.resume(name);
  }

  @Post(':name/run')
  @ApiOperation({ summary: 'Enqueue one run now, outside the timetable; answers the job' })
  run(@Param('name', ScheduleNamePipe) name: string) {
    return this.schedules.runNow(name);
  }
}
